"""The context every flow works in while the engine handles one event."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.config import RosterEntry, Settings
from bot.domain import Case, Role
from bot.events import Action, Button, CaseChanged, Cancel, NotifyStaff, Say, Schedule
from bot.hours import BusinessCalendar
from bot.language import Cues
from bot.world import World


class ArticleSuggestion(Protocol):
    """What the engine needs from a ranked help article (knowledge.index.ArticleHit satisfies it)."""

    @property
    def confidence(self) -> float: ...

    @property
    def score(self) -> float: ...

    @property
    def article(self) -> ArticleLike: ...


class ArticleLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def summary(self) -> str: ...

    @property
    def url(self) -> str: ...


class ArticleFinder(Protocol):
    """Customer-facing article suggestions; an empty list when the ranking is unsure."""

    def suggest(self, text: str, *, limit: int = 3) -> Sequence[ArticleSuggestion]: ...


@dataclass(frozen=True)
class Services:
    cues: Cues
    articles: ArticleFinder
    calendar: BusinessCalendar


class Turn:
    def __init__(self, settings: Settings, services: Services, world: World) -> None:
        self.settings = settings
        self.services = services
        self.world = world
        self.now = world.now
        self.actions: list[Action] = []

    def spiel(self, key: str, /, **fields: object) -> str:
        text: str = getattr(self.settings.spiels, key)
        return text.format(**fields)

    def say(self, case: Case, text: str, buttons: Sequence[Button] = (), *, sender: str = "bot", sender_name: str = "") -> None:
        self.actions.append(Say(case.conversation_id, case.id, text, sender, sender_name, tuple(buttons)))

    def notify(
        self, recipients: Sequence[str], text: str, kind: str, case: Case | None = None, *, consult: int | None = None
    ) -> None:
        unique = tuple(dict.fromkeys(recipients))
        if unique:
            self.actions.append(NotifyStaff(unique, text, kind, case.id if case else None, consult))

    def reply(self, staff_id: str, text: str, case: Case | None = None) -> None:
        """An answer to a staff member's own command, seen by them alone."""
        self.notify([staff_id], text, "reply", case)

    def notify_consult(
        self, recipients: Sequence[str], text: str, case: Case, consult: int, *, author: str, origin: str = ""
    ) -> None:
        """A line of a consult thread, for the agent and SME (and the adapter that shows the thread)."""
        unique = tuple(dict.fromkeys(recipients))
        self.actions.append(NotifyStaff(unique, text, "consult_message", case.id, consult, author, origin))

    def to_customer(self, key: str, case: Case, /, **fields: object) -> str:
        """A spiel that addresses the customer by first name ({name}); when no name is known a
        greeting says "Hi there" and elsewhere the name is left out ("Thanks for your patience.",
        not "Thanks for your patience, there.")."""
        text = self.spiel(key, name=case.customer_name, **fields)
        if case.customer_name:
            return text
        text = _NAMELESS_GREETING.sub(r"\1 there\2", text)
        return _TRAILING_COMMA.sub(r"\1", _SPACE_BEFORE_MARK.sub(r"\1", text))

    def changed(self, case: Case) -> None:
        if not any(isinstance(a, CaseChanged) and a.case_id == case.id for a in self.actions):
            self.actions.append(CaseChanged(case.id))

    def finish(self) -> list[Action]:
        """The turn's actions, each case-changed notice saying whether the case has a queue card
        (decided at the end of the turn, when the case's state is final)."""
        return [
            CaseChanged(a.case_id, _has_queue_card(self.world.cases.get(a.case_id))) if isinstance(a, CaseChanged) else a
            for a in self.actions
        ]

    def schedule(self, kind: str, case: Case, after: float) -> None:
        self.actions.append(Schedule(timer_key(kind, case.id), kind, case.id, self.now + after))

    def cancel(self, kind: str, case: Case) -> None:
        self.actions.append(Cancel(timer_key(kind, case.id)))

    def staff(self, staff_id: str) -> RosterEntry | None:
        return self.settings.staff(staff_id)

    def staff_name(self, staff_id: str | None) -> str:
        return self.settings.name_of(staff_id, unknown="An advisor")

    def agents_taking_chats(self, *, with_free_slot: bool = False) -> list[RosterEntry]:
        """Tier I agents who are online and available (and, if asked, below their capacity)."""
        found = []
        for entry in self.settings.roster:
            if entry.role is not Role.AGENT or not self.world.agent(entry.id).takes_chats:
                continue
            if with_free_slot and self.world.active_chats.get(entry.id, 0) >= self.settings.capacity_of(entry):
                continue
            found.append(entry)
        return found

    def managers_on_duty(self) -> list[RosterEntry]:
        managers = [e for e in self.settings.roster if e.role is Role.MANAGER]
        return [e for e in managers if e.on_duty] or managers

    def members(self, role: Role) -> list[RosterEntry]:
        return [e for e in self.settings.roster if e.role is role]


_NAMELESS_GREETING = re.compile(r"\b(Hi|Hello|Hey|Dear)\s+([,.!?])")
_SPACE_BEFORE_MARK = re.compile(r"\s+([,.!?])")
_TRAILING_COMMA = re.compile(r",([.!?])")


def _has_queue_card(case: Case | None) -> bool:
    return case is not None and (case.queued_at is not None or case.tier > 1)


def clock_text(seconds: float) -> str:
    """Durations the way the SOP's idle counter shows them: 2:00, 3:50."""
    whole = max(0, int(round(seconds)))
    return f"{whole // 60}:{whole % 60:02d}"


def timer_key(kind: str, case_id: int) -> str:
    return f"{kind}:{case_id}"
