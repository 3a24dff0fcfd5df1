"""The slice of state the engine reads and changes while it handles one event.

The runtime loads a `World` under the event lock, the engine mutates it and appends actions, and
the store writes back what changed together with the actions, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain import AgentState, Case, CaseState, Conversation


@dataclass
class World:
    now: float
    conversation: Conversation | None
    cases: dict[int, Case]
    agents: dict[str, AgentState]
    active_chats: dict[str, int]
    recent_handle_times: list[float]
    next_case_id: int
    next_ticket_id: int

    def queue(self) -> list[Case]:
        """Queued cases: those put back by an agent who left first, then the longest-waiting (the
        store loads every queued case)."""
        return sorted((c for c in self.cases.values() if c.state is CaseState.QUEUED), key=queue_order)

    def live_chats_of(self, staff_id: str) -> list[Case]:
        """The staff member's live chats among the loaded cases (the store loads them for presence events)."""
        return [c for c in self.cases.values() if c.agent_id == staff_id and c.state is CaseState.WITH_AGENT]

    def current_case(self) -> Case | None:
        if self.conversation is None or self.conversation.case_id is None:
            return None
        return self.cases.get(self.conversation.case_id)

    def start_live_chat(self, case: Case, agent_id: str) -> None:
        """The case is now a live chat of `agent_id`: it takes one of their slots."""
        case.state = CaseState.WITH_AGENT
        case.agent_id = agent_id
        self.active_chats[agent_id] = self.active_chats.get(agent_id, 0) + 1

    def end_live_chat(self, case: Case) -> None:
        """The case stops being a live chat (call before changing its state): its agent's slot frees up."""
        if case.state is CaseState.WITH_AGENT and case.agent_id:
            self.active_chats[case.agent_id] = max(0, self.active_chats.get(case.agent_id, 0) - 1)

    def agent(self, staff_id: str) -> AgentState:
        return self.agents.setdefault(staff_id, AgentState(id=staff_id))


def queue_order(case: Case) -> tuple[bool, float, int]:
    """Where a queued case stands: put back by an agent who left first, then longest waiting."""
    return (case.requeued_at is None, case.requeued_at or case.queued_at or 0.0, case.id)


@dataclass
class Loaded:
    """Fingerprints of what was loaded, so the store writes back only what the engine changed."""

    case_json: dict[int, str] = field(default_factory=dict)
    agent_json: dict[str, str] = field(default_factory=dict)
    conversation_json: str = ""
    conversation_seq: int = 0  # its transcript's last seq
    counters: dict[str, int] = field(default_factory=dict)
