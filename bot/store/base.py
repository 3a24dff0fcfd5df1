"""The store protocol: everything the service keeps, behind one small async interface.

SQLite (embedded, the default) implements it; a Redis implementation for many workers satisfies the
same contract tests. The engine never sees the store: the runtime loads a `World`, the engine
changes it, and `commit` writes the changes, the records, the timers and the outbox together.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.domain import AgentState, Case, CaseState, Conversation
from bot.events import Action, CaseChanged, Heard, NotifyStaff, Say
from bot.store.accounts import AccountStore
from bot.world import Loaded, World


class StoreError(RuntimeError):
    """The store could not do what was asked (unreachable, corrupt)."""


@dataclass(frozen=True)
class TranscriptEntry:
    conversation_id: str
    seq: int
    case_id: int | None
    sender: str  # customer | bot | agent
    sender_name: str
    text: str
    buttons: list[dict[str, str]]
    at: float


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    adapter: str
    payload: dict[str, Any]
    attempts: int
    next_attempt_at: float
    notes: dict[str, Any] = field(default_factory=dict)  # the outlet's own record of earlier tries (bot.runtime.Attempt)


@dataclass(frozen=True)
class DueTimer:
    key: str
    kind: str
    case_id: int
    due_at: float


@dataclass(frozen=True)
class InboundEntry:
    """A platform delivery recorded before it was acknowledged, waiting to be processed."""

    source: str
    event_id: str
    payload: dict[str, Any]
    received_at: float


@dataclass(frozen=True)
class NoteEntry:
    case_id: int
    author_id: str
    text: str
    tags: tuple[str, ...]
    at: float


@dataclass(frozen=True)
class Routed:
    """An outbound message and the adapter that must deliver it.

    `durable` messages go through the outbox and are retried until delivered; the others (a web
    page's live view, whose transcript is already stored) are handed back by `commit` to be pushed
    at once.
    """

    adapter: str
    action: Say | Heard | NotifyStaff | CaseChanged
    durable: bool = True


@dataclass(frozen=True)
class Backlog:
    """What is waiting, counted without loading it (for /metrics)."""

    cases: dict[str, int]  # open cases by state (only states that have any)
    outbox: int  # undelivered outbound entries, retries included
    inbox: dict[str, int]  # recorded platform deliveries not yet handled, by source (only sources that have any)


class Store(Protocol):
    @property
    def accounts(self) -> AccountStore:
        """Staff credentials (bot/store/accounts.py)."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Groups units of work into one durable commit (the runtime's group commit); a `commit()`
        inside that fails undoes only its own writes."""
        ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """One unit of work inside `transaction()`: all of its writes are undone if it fails."""
        ...

    async def create_conversation(self, conversation: Conversation, *, secret_hash: str, if_new: bool = False) -> bool:
        """Stores a new conversation; True when it was added. An existing id is an error, unless
        `if_new` (then it is left as it is and False returned: one write, no read first)."""
        ...

    async def conversation_secret(self, conversation_id: str) -> str | None: ...

    async def load_world(
        self, *, now: float, conversation_id: str | None, case_ids: Collection[int], staff_id: str | None = None
    ) -> tuple[World, Loaded]:
        """The world for one event: every queued case, the conversation's case, `case_ids`, and
        `staff_id`'s live chats (a presence change may move them)."""
        ...

    async def commit(
        self,
        world: World,
        loaded: Loaded,
        actions: Sequence[Action],
        routed: Sequence[Routed],
        *,
        inbound: tuple[str, str] | None = None,
        fired_timer: str | None = None,
    ) -> list[tuple[str, dict[str, Any]]]:
        """Writes the world's changes, records, timers and outbox rows in one transaction;
        returns the (adapter, payload) of each non-durable message, to be pushed now.

        `inbound` is (source, event id) of a platform delivery, or of a request's idempotency key,
        remembered so a retry is dropped;
        `fired_timer` is deleted in the same transaction, so a timer fires once per handled event.
        """
        ...

    async def accept_inbound(self, source: str, event_id: str, payload: dict[str, Any], *, now: float) -> bool:
        """Records a delivery before it is acknowledged; False when it was seen before (a retry)."""
        ...

    async def inbound(self, source: str, *, limit: int = 100) -> list[InboundEntry]: ...

    async def finish_inbound(self, source: str, event_id: str, *, now: float) -> None:
        """Marks a delivery that produced no event as done (a commit with `inbound=` does this too)."""
        ...

    async def handled_inbound(self, source: str, event_id: str) -> bool:
        """Whether a delivery (or a request's idempotency key) was already handled to the end."""
        ...

    async def forget_seen(self, *, before: float) -> int:
        """Drops delivery ids older than any platform retries them, and delivered outbox rows;
        returns how many delivery ids."""
        ...

    async def get_ref(self, adapter: str, key: str) -> str | None:
        """Adapter bookkeeping, e.g. which Slack message shows a case in the queue channel."""
        ...

    async def set_ref(self, adapter: str, key: str, value: str) -> None: ...

    async def case_by_number(self, number: str) -> Case | None: ...

    async def transcript(self, conversation_id: str, *, after: int = 0, limit: int = 500) -> list[TranscriptEntry]: ...

    async def due_timers(self, now: float, *, limit: int = 100) -> list[DueTimer]: ...

    async def pending_outbox(self, *, limit: int = 200) -> list[OutboxEntry]:
        """Undelivered entries in order, including those waiting for a retry (they hold back later ones)."""
        ...

    async def mark_delivered(self, ids: Collection[int], *, now: float) -> None: ...

    async def mark_failed(self, entry_id: int, *, retry_at: float, error: str, notes: dict[str, Any] | None = None) -> None:
        """The row is tried again at `retry_at`; `notes` (what the try learnt, see `note_attempt`) replace the row's."""
        ...

    async def note_attempt(self, entry_id: int, notes: dict[str, Any]) -> None:
        """Replaces an undelivered row's notes: its outlet's record of what its tries sent, or may
        have sent, kept until the row is delivered (bot.runtime.Attempt)."""
        ...

    async def case(self, case_id: int) -> Case | None: ...

    async def cases_in(self, states: Collection[CaseState]) -> list[Case]: ...

    async def cases_of_staff(self, staff_id: str) -> list[Case]: ...

    async def follow_ups(self) -> list[Case]:
        """Cases someone still owes something: a call back not yet made, or an open case whose
        customer asked for a manager (the console's work lists)."""
        ...

    async def search_cases(
        self, text: str, *, states: Collection[CaseState] | None = None, limit: int = 20, before_id: int | None = None
    ) -> list[Case]:
        """Cases newest first (ids below `before_id`, to page on) in `states` (any when None) in which
        every word of `text` appears in the number, the customer's name, the problem, a line the
        customer or an agent wrote, or a note; a `#word` matches a note's tag exactly."""
        ...

    async def conversation(self, conversation_id: str) -> Conversation | None: ...

    async def notes(self, case_id: int) -> list[NoteEntry]: ...

    async def agents(self) -> list[AgentState]: ...

    async def active_chats(self) -> dict[str, int]:
        """Live chats per staff member (cases with an agent)."""
        ...

    async def records(self, table: str, case_id: int | None = None) -> list[dict[str, Any]]:
        """A case's tickets, offers, surveys or consult_messages (the `table`), oldest first;
        every case's when `case_id` is None (for reports)."""
        ...

    async def all_cases(self) -> list[Case]: ...

    async def backlog(self) -> Backlog: ...

