"""The typed output port every adapter implements, in the engine's terms (Rasa's `OutputChannel`
is the model): show a line of a conversation (with its buttons), notify staff, tell that a case
changed. The dispatcher decodes each outbox row into one of these once and calls the port of the
row's adapter; no adapter branches on a payload's "type" again.

Also here: `Attempt` (one try at delivering an outbox row, for platforms whose calls must not be
repeated) and `DeliveryError` (try again later), the two things an adapter's delivery needs from
the runtime.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.events import Button, CaseChanged, Heard, NotifyStaff, Say


@dataclass(frozen=True)
class Line:
    """A line of a customer conversation to show: the bot's, an agent's, or the customer's own
    (echoed to platforms that do not show it by themselves). `seq` and `at` are its place in the
    stored transcript, when it is one line of it (a platform's merged message is not)."""

    conversation_id: str
    case_id: int | None
    text: str
    sender: str  # bot | agent | customer
    sender_name: str = ""
    buttons: tuple[Button, ...] = ()
    seq: int | None = None
    at: float | None = None


Outbound = Line | NotifyStaff | CaseChanged


class DeliveryError(Exception):
    """An adapter could not deliver now; the outbox retries later. `retry_after` may say when."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Attempt:
    """One try at delivering an outbox row, for an outlet whose platform calls must not simply be
    repeated (a chat post has no idempotency key: posted twice, the customer reads it twice).

    `notes` are the outlet's own record of what the row's earlier tries did; the runtime keeps them
    with the row and never reads them. Before a call whose answer might never come back (the
    process killed, a timeout), the outlet writes down that it is making it and awaits `save()`,
    which returns once that is committed; a later try reads the note and asks the platform whether
    the call went out instead of making it again. What a failed try learnt is kept for its retry.
    A live push (after the commit, never retried) gets an attempt whose notes go nowhere."""

    def __init__(self, outbox_id: int, notes: Mapping[str, Any], save: Callable[[int, dict[str, Any]], Awaitable[None]] | None) -> None:
        self.outbox_id = outbox_id
        self.notes: dict[str, Any] = dict(notes)
        self._save = save

    @classmethod
    def live(cls) -> Attempt:
        return cls(0, {}, None)

    async def save(self) -> None:
        if self._save is not None:
            await self._save(self.outbox_id, dict(self.notes))


class Port(Protocol):
    """The outbound half of an adapter. `durable` ports get every row through the persisted outbox
    (retried, each with its `Attempt`); the others are pushed once right after the commit (a web
    page's live view, whose transcript is already the record). The methods a port has no use for
    keep these defaults: a port is never sent what its `wants` and routing exclude."""

    name: str
    serves_staff: bool  # gets staff notices and case changes it `wants`
    shows_customer_messages: bool  # the customer's own lines are echoed to this platform
    durable: bool

    def wants(self, action: NotifyStaff | CaseChanged) -> bool:
        """Whether this staff-facing port acts on the notice (else no row is written for it)."""
        return False

    def shape(self, lines: Sequence[Say]) -> list[Say]:
        """One turn's lines to one chat of this platform, before they are stored for delivery:
        a platform that posts each delivery as a message may merge them (Slack)."""
        return list(lines)

    async def show(self, line: Line, attempt: Attempt) -> None:
        """Shows a conversation line (buttons as the platform can: fall back to text); raises
        DeliveryError to have it retried."""
        return None

    async def notify(self, notice: NotifyStaff, attempt: Attempt) -> None:
        """Tells staff (alerts, answers to their commands, consult lines)."""
        return None

    async def case_changed(self, change: CaseChanged, attempt: Attempt) -> None:
        """A case's staff-facing view changed: refresh what shows it (lists, cards)."""
        return None


def encode(action: Say | Heard | NotifyStaff | CaseChanged) -> dict[str, Any]:
    """The JSON form of an outbox row."""
    if isinstance(action, Heard):  # the customer's own line, as a line from them
        action = Say(action.conversation_id, action.case_id, action.text, "customer")
    if isinstance(action, Say):
        return {
            "type": "say",
            "conversation_id": action.conversation_id,
            "case_id": action.case_id,
            "text": action.text,
            "sender": action.sender,
            "sender_name": action.sender_name,
            "buttons": [{"id": b.id, "label": b.label, "value": b.value} for b in action.buttons],
        }
    if isinstance(action, NotifyStaff):
        return {
            "type": "notify",
            "recipients": list(action.recipients),
            "text": action.text,
            "kind": action.kind,
            "case_id": action.case_id,
            "consult": action.consult,
            "author": action.author,
            "origin": action.origin,
        }
    return {"type": "case_changed", "case_id": action.case_id, "queue_card": action.queue_card}


def decode(payload: Mapping[str, Any]) -> Outbound:
    """An outbox row back as the typed action it was written from."""
    kind = payload["type"]
    if kind == "say":
        buttons = tuple(Button(b["id"], b["label"], b["value"]) for b in payload.get("buttons") or ())
        return Line(
            payload["conversation_id"], payload.get("case_id"), payload["text"], payload.get("sender", "bot"),
            payload.get("sender_name", ""), buttons, payload.get("seq"), payload.get("at"),
        )
    if kind == "notify":
        return NotifyStaff(
            tuple(payload["recipients"]), payload["text"], payload["kind"], payload.get("case_id"), payload.get("consult"),
            payload.get("author", ""), payload.get("origin", ""),
        )
    if kind == "case_changed":
        return CaseChanged(payload["case_id"], bool(payload.get("queue_card")))
    raise ValueError(f"not an outbox payload: {kind!r}")


async def send(port: Port, action: Outbound, attempt: Attempt) -> None:
    """Hands one decoded action to the port's method for it."""
    match action:
        case Line():
            await port.show(action, attempt)
        case NotifyStaff():
            await port.notify(action, attempt)
        case CaseChanged():
            await port.case_changed(action, attempt)
