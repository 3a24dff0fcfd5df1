"""A scriptable support desk for tests: real engine, real SQLite store, a fake clock, collecting outlets."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.clock import FakeClock
from adapters.settings import build_settings
from bot.config import Settings
from bot.domain import AgentStatus, Case, Conversation
from bot.engine import ConversationManager
from bot.events import CaseChanged, CustomerAction, CustomerMessage, NotifyStaff, Say, StaffCommand, StaffPresence
from bot.hours import BusinessCalendar
from bot.language import Cues
from bot.ports import Attempt, DeliveryError, Line, Port, encode
from bot.runtime import Runtime
from bot.store.sqlite import SQLiteStore
from bot.turn import Services

ROSTER: list[dict[str, Any]] = [
    {"id": "ana", "name": "Ana", "role": "agent"},
    {"id": "ben", "name": "Ben", "role": "agent", "capacity": 1},
    {"id": "tara", "name": "Tara", "role": "tier2"},
    {"id": "maya", "name": "Maya", "role": "manager", "on_duty": True},
    {"id": "sam", "name": "Sam", "role": "sme"},
]


@dataclass(frozen=True)
class FakeArticle:
    id: str
    title: str
    summary: str
    url: str


@dataclass(frozen=True)
class FakeHit:
    article: FakeArticle
    score: float
    confidence: float


class KeywordFinder:
    """Offers an article when its keyword is in the text: tests choose exactly what gets offered."""

    def __init__(self, articles: dict[str, FakeArticle]) -> None:
        self.articles = articles
        self.queries: list[str] = []

    def suggest(self, text: str, *, limit: int = 3) -> list[FakeHit]:
        self.queries.append(text)
        return self.search(text, limit=limit)

    def search(self, text: str, *, limit: int = 3, audiences: Collection[str] = ("customer",)) -> list[FakeHit]:
        found = [a for word, a in self.articles.items() if word in text.lower()]
        return [FakeHit(a, 10.0, 0.9) for a in found[:limit]]


DEFAULT_ARTICLES = {
    "password": FakeArticle("reset-password", "Reset a forgotten password", "Get a reset link by email.", "https://help.example.com/reset"),
    "export": FakeArticle("export-reports", "Export reports", "Download reports as CSV.", "https://help.example.com/export"),
    "csv": FakeArticle("csv-format", "CSV format", "Columns in exported files.", "https://help.example.com/csv"),
}


@dataclass
class Outlet(Port):
    """A collecting port: what reached it, as the outbox rows' JSON (tests read the dicts)."""

    name: str = "web"
    serves_staff: bool = True
    shows_customer_messages: bool = True
    durable: bool = True
    delivered: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0

    def wants(self, action: NotifyStaff | CaseChanged) -> bool:
        return True

    async def show(self, line: Line, attempt: Attempt) -> None:
        said = Say(line.conversation_id, line.case_id, line.text, line.sender, line.sender_name, line.buttons)
        transcript = {"seq": line.seq, "at": line.at} if line.seq is not None else {}
        self._record({**encode(said), **transcript})

    async def notify(self, notice: NotifyStaff, attempt: Attempt) -> None:
        self._record(encode(notice))

    async def case_changed(self, change: CaseChanged, attempt: Attempt) -> None:
        self._record(encode(change))

    def _record(self, payload: dict[str, Any]) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise DeliveryError("simulated outage")
        self.delivered.append(payload)


class Desk:
    def __init__(self, settings: Settings, store: SQLiteStore, clock: FakeClock, finder: KeywordFinder) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.finder = finder
        services = Services(Cues(settings.language), finder, BusinessCalendar(settings.business_hours))
        self.runtime = Runtime(engine=ConversationManager(settings, services), store=store, clock=clock)
        self.outlet = Outlet()
        self.runtime.attach(self.outlet)
        self._count = 0

    async def customer(self) -> str:
        self._count += 1
        conversation_id = f"web:c{self._count}"
        conversation = Conversation(conversation_id, "web", created_at=self.clock.now())
        await self.runtime.open_conversation(conversation, secret_hash=hashlib.sha256(b"x").hexdigest())
        return conversation_id

    async def say(self, conversation_id: str, text: str) -> list[str]:
        """Sends a customer message; returns the texts said back to that customer."""
        actions = await self.runtime.handle(CustomerMessage(conversation_id, text))
        return [a.text for a in actions if getattr(a, "conversation_id", None) == conversation_id and type(a).__name__ == "Say"]

    async def press(self, conversation_id: str, label: str) -> list[str]:
        """Presses the button labelled `label` on the latest bot message that has it."""
        for entry in reversed(await self.store.transcript(conversation_id)):
            for button in entry.buttons:
                if button["label"] == label:
                    actions = await self.runtime.handle(CustomerAction(conversation_id, button["id"], button["value"]))
                    return [a.text for a in actions if type(a).__name__ == "Say" and getattr(a, "conversation_id", None) == conversation_id]
        raise AssertionError(f"no button {label!r} in the transcript")

    async def staff(
        self,
        staff_id: str,
        command: str,
        case_id: int | None = None,
        text: str = "",
        tags: Sequence[str] = (),
        fields: dict[str, str] | None = None,
        origin: str = "",
    ) -> list[Any]:
        command_event = StaffCommand(staff_id, command, case_id, text, tuple(tags), tuple((fields or {}).items()), origin)
        return await self.runtime.handle(command_event)

    async def agent_online(self, staff_id: str, status: AgentStatus = AgentStatus.AVAILABLE) -> None:
        await self.runtime.handle(StaffPresence(staff_id, True))
        await self.staff(staff_id, "status", text=status.value)

    async def advance(self, seconds: float) -> int:
        self.clock.advance(seconds)
        return await self.runtime.fire_due_timers()

    async def case_of(self, conversation_id: str) -> Case:
        conversation = await self.store.conversation(conversation_id)
        assert conversation is not None and conversation.case_id is not None
        case = await self.store.case(conversation.case_id)
        assert case is not None
        return case

    async def lines(self, conversation_id: str) -> list[str]:
        return [f"{e.sender}: {e.text}" for e in await self.store.transcript(conversation_id)]

    def notices(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [p for p in self.outlet.delivered if p["type"] == "notify" and (kind is None or p["kind"] == kind)]


def desk_settings(**sections: Any) -> Settings:
    """Settings as a TOML file with these sections and the test roster would give."""
    return build_settings({"roster": ROSTER, **sections})


async def open_desk(tmp_path: Path, settings: Settings | None = None, finder: KeywordFinder | None = None) -> Desk:
    store = SQLiteStore(tmp_path / "desk.db")
    await store.open()
    return Desk(settings or desk_settings(), store, FakeClock(), finder or KeywordFinder(dict(DEFAULT_ARTICLES)))


