"""The nouns of support work: conversations, cases, staff presence. Plain, JSON-friendly dataclasses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"  # Tier I
    TIER2 = "tier2"
    MANAGER = "manager"
    SME = "sme"


class CaseState(StrEnum):
    """Where a case is in its life. A case never goes back to an open state once resolved."""

    NEW = "new"  # opened, collecting details
    SELF_SERVICE = "self_service"  # help articles offered, waiting to hear if they helped
    QUEUED = "queued"  # waiting for a live agent
    WITH_AGENT = "with_agent"
    ESCALATED = "escalated"  # waiting for Tier II to pick it up
    WAITING_ON_DEVELOPMENT = "waiting_on_development"
    TICKETED = "ticketed"  # nobody was available: a ticket was taken, a reply will come by email
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_STATES = frozenset(
    {
        CaseState.NEW,
        CaseState.SELF_SERVICE,
        CaseState.QUEUED,
        CaseState.WITH_AGENT,
        CaseState.ESCALATED,
        CaseState.WAITING_ON_DEVELOPMENT,
        CaseState.TICKETED,
    }
)


class AgentStatus(StrEnum):
    AVAILABLE = "available"
    AWAY = "away"


class SurveyStage(StrEnum):
    NOT_ASKED = "not_asked"
    ASKED = "asked"  # waiting for a 1-5 rating
    COMMENT = "comment"  # rated, waiting for an optional comment
    DONE = "done"


def platform_of(conversation_id: str) -> str:
    """The platform a conversation id belongs to: ids are `<platform>:<the platform's own id>`,
    built and read by one function pair per platform (e.g. adapters/slack_ids.py)."""
    return conversation_id.partition(":")[0]


@dataclass
class Conversation:
    """One customer's channel on one platform (a web chat session, a Slack DM...)."""

    id: str
    platform: str
    customer_name: str = ""
    case_id: int | None = None
    created_at: float = 0.0
    customer_ref: str = ""  # the platform's id for the customer (a Slack user id), where it has one
    callback_at: float | None = None  # this customer's latest call back (one per callback.once_within)
    new_case_next: bool = False  # /new while a ticket is open: the next message opens a new case


class ConsultState(StrEnum):
    WAITING = "waiting"  # posted to the SME group, nobody has claimed it
    ACTIVE = "active"  # an SME claimed it; agent and SME talk in its thread
    ENDED = "ended"


@dataclass
class Consult:
    """An agent asking a subject-matter expert for help on a case: a consult, never a transfer."""

    number: int  # 1, 2... within its case
    agent_id: str
    classification: str
    group: str
    notes: str
    created_at: float
    fields: dict[str, str] = field(default_factory=dict)
    state: ConsultState = ConsultState.WAITING
    sme_id: str | None = None
    claimed_at: float | None = None
    ended_at: float | None = None
    end_reason: str = ""  # answered | idle | paused
    repeat_reason: str = ""  # why a second consult on the same contact was needed
    last_agent_at: float | None = None
    last_sme_at: float | None = None
    agent_last_text: str = ""
    idle_stage: int = 0  # 0 none, 1 prompted, 2 warned

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Consult:
        values = dict(data)
        values["state"] = ConsultState(values["state"])
        return cls(**values)


@dataclass
class Case:
    id: int
    number: str
    conversation_id: str
    created_at: float
    state: CaseState = CaseState.NEW
    previous_case_id: int | None = None
    customer_name: str = ""  # as the platform knows it, for spiels like "Hi <name>"
    problem: str = ""
    details: dict[str, str] = field(default_factory=dict)
    intake_asks: int = 0
    offered_articles: list[str] = field(default_factory=list)
    offer_answered: bool = False
    helped_article: str | None = None  # the offered article the customer confirmed solved it
    # The article that solved the previous case within knowledge.came_back_days: offered again, it "came back".
    previously_helped: str | None = None
    article_checked: bool = False
    queued_at: float | None = None
    requeued_at: float | None = None  # put back in the queue (its agent left or gave it back): ahead of the rest
    told_position: int | None = None
    queue_alerted: bool = False
    unstaffed_told: bool = False  # told that nobody can take chats right now, and offered to leave a message
    agent_id: str | None = None
    tier: int = 1
    escalated_at: float | None = None  # sent to Tier II
    accepted_at: float | None = None
    resolved_at: float | None = None
    resolution: str | None = None  # self_service | agent
    callback_requested: bool = False
    callback_due_at: float | None = None
    callback_done_at: float | None = None  # an agent called back (the pending call backs list empties)
    awaiting_phone: bool = False
    manager_escalated: bool = False
    manager_requested_at: float | None = None  # the customer's latest request for a manager
    ticket: str | None = None
    reply_by: float | None = None  # a ticket's promised reply
    ticketed_at: float | None = None
    survey: SurveyStage = SurveyStage.NOT_ASKED
    survey_rating: int | None = None
    consults: list[Consult] = field(default_factory=list)
    on_hold_since: float | None = None
    last_customer_at: float | None = None
    last_agent_at: float | None = None  # the agent's latest message to the customer
    customer_last_text: str = ""
    customer_typing_since: float | None = None
    customer_typing_at: float | None = None
    customer_idle_stage: int = 0  # 0 none, 1 prompted, 2 warned

    def consult(self, number: int) -> Consult | None:
        return next((c for c in self.consults if c.number == number), None)

    def open_consult(self) -> Consult | None:
        return next((c for c in self.consults if c.state is not ConsultState.ENDED), None)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view (fields are plain values, lists and dicts; enums are strings).

        Shallow on purpose: `dataclasses.asdict` deep-copies, which cost more than the rest of a commit.
        """
        return {**vars(self), "consults": [vars(c) for c in self.consults]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Case:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["state"] = CaseState(values["state"])
        values["survey"] = SurveyStage(values.get("survey", SurveyStage.NOT_ASKED))
        values["consults"] = [Consult.from_json(c) for c in values.get("consults", [])]
        return cls(**values)


@dataclass
class AgentState:
    """A staff member's presence: the status they chose and whether any of their consoles is connected."""

    id: str
    status: AgentStatus = AgentStatus.AWAY
    online: bool = False
    console: bool = False  # online through a console connection (which can drop), not only by a chat command

    @property
    def takes_chats(self) -> bool:
        return self.online and self.status is AgentStatus.AVAILABLE
