"""The engine's whole vocabulary: neutral events in, neutral actions out.

Adapters turn platform payloads into these events and these actions into platform calls; nothing
here knows about Slack, Teams or HTTP. Actions are either *messages* (delivered through the
persisted outbox), *records* (stored in the same transaction as the case) or *timers*.
"""

from __future__ import annotations

from dataclasses import dataclass


# ----- inbound events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationStarted:
    conversation_id: str


@dataclass(frozen=True)
class CustomerMessage:
    conversation_id: str
    text: str


@dataclass(frozen=True)
class CustomerAction:
    """A button press: `action_id` names the button, `value` what it carries.

    The engine's buttons carry "<case id>:<detail>", so a stale button is recognised as such.
    """

    conversation_id: str
    action_id: str
    value: str

    def case_and_detail(self) -> tuple[int | None, str]:
        head, _, detail = self.value.partition(":")
        return (int(head) if head.isdigit() and len(head) < 12 else None), detail


@dataclass(frozen=True)
class StaffCommand:
    """Something a staff member did: accept, say, note, resolve, escalate, status...

    `case_id` is the case the command is about (None for status changes); `text` carries the
    message, note or argument.
    """

    staff_id: str
    command: str
    case_id: int | None = None
    text: str = ""
    tags: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()  # form fields, e.g. a consult's classification and notes
    origin: str = ""  # the adapter it came from, so a message typed there is not echoed back to it


@dataclass(frozen=True)
class CustomerTyping:
    """The platform reports the customer typing (web chat, Teams)."""

    conversation_id: str


@dataclass(frozen=True)
class CustomerNamed:
    """The platform told us the customer's name after the conversation opened (Slack's user
    lookup runs off the hot path); spiels address them by it from then on."""

    conversation_id: str
    name: str


@dataclass(frozen=True)
class StaffPresence:
    """A staff member's console connected (online) or its last connection closed."""

    staff_id: str
    online: bool


@dataclass(frozen=True)
class TimerFired:
    key: str
    kind: str
    case_id: int


Event = (
    ConversationStarted
    | CustomerMessage
    | CustomerAction
    | CustomerTyping
    | CustomerNamed
    | StaffCommand
    | StaffPresence
    | TimerFired
)


# ----- outbound actions --------------------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    id: str
    label: str
    value: str


@dataclass(frozen=True)
class Say:
    """A message to the customer, kept in the transcript and delivered through the outbox."""

    conversation_id: str
    case_id: int | None
    text: str
    sender: str = "bot"  # bot | agent
    sender_name: str = ""
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class Heard:
    """The customer's own input (a message or a pressed button's label), kept in the transcript."""

    conversation_id: str
    case_id: int | None
    text: str


@dataclass(frozen=True)
class NotifyStaff:
    """A message to staff members (alerts, command answers). `kind` lets adapters style it.

    Consult traffic names its `consult` (number within the case), `author` and `origin` adapter.
    """

    recipients: tuple[str, ...]
    text: str
    kind: str
    case_id: int | None = None
    consult: int | None = None
    author: str = ""
    origin: str = ""


@dataclass(frozen=True)
class CaseChanged:
    """A case's staff-facing view changed (queue list, transcript, state): adapters refresh it.

    `queue_card` says the case has been in the live queue (or Tier II's), where chat tools show it.
    """

    case_id: int
    queue_card: bool = False


@dataclass(frozen=True)
class Schedule:
    key: str
    kind: str
    case_id: int
    due_at: float


@dataclass(frozen=True)
class Cancel:
    key: str


@dataclass(frozen=True)
class RecordNote:
    case_id: int
    author_id: str
    text: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class RecordTicket:
    case_id: int
    ticket: str
    kind: str  # offline_message | callback
    text: str
    due_at: float


@dataclass(frozen=True)
class RecordOffer:
    case_id: int
    article_ids: tuple[str, ...]
    query: str
    scores: tuple[float, ...]


@dataclass(frozen=True)
class RecordOfferOutcome:
    case_id: int
    outcome: str  # helped | not_helped | no_answer | came_back (a new case on the same topic soon after "helped")
    article_id: str | None = None


@dataclass(frozen=True)
class RecordSurvey:
    case_id: int
    rating: int
    comment: str = ""


@dataclass(frozen=True)
class RecordConsultMessage:
    """A line of a consult's thread (agent, SME or the bot), kept with the case for staff only."""

    case_id: int
    consult: int
    author_id: str  # a roster id, or "bot"
    text: str


@dataclass(frozen=True)
class RecordHandleTime:
    """How long an agent handled a case (accept → resolve); feeds honest queue wait estimates."""

    case_id: int
    seconds: float


Action = (
    Say
    | Heard
    | NotifyStaff
    | CaseChanged
    | Schedule
    | Cancel
    | RecordNote
    | RecordTicket
    | RecordOffer
    | RecordOfferOutcome
    | RecordSurvey
    | RecordConsultMessage
    | RecordHandleTime
)


