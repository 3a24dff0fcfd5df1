"""What a staff member's command did, told to them when the engine told them nothing.

The engine answers its caller when it refuses and when the answer is the point ("You are now
available", a case's summary, "CS-… is now with Ben"); a command that works otherwise changes the
case and tells the customer. On the console the transcript shows that; in Slack someone typing
`/sb-resolve` in a DM, or `!hold` in a card's thread, saw nothing happen and could not tell a
command that worked from one that was lost. So after each command from Slack the adapter looks at
what the engine did and, when it said nothing to the caller, says what happened.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import Settings
from bot.domain import Case, CaseState, ConsultState
from bot.events import Action, NotifyStaff, RecordNote, StaffCommand
from bot.turn import clock_text


def confirmation(command: StaffCommand, actions: Sequence[Action], case: Case | None, settings: Settings) -> str:
    """A line for the caller ("" when the engine answered them, or there is nothing to add: words
    said to the customer or in a consult show where they were typed)."""
    if case is None or not actions or _answered(command.staff_id, actions):
        return ""
    name, number = command.command, case.number
    consult = case.consults[-1] if case.consults else None
    if name == "accept" and case.state is CaseState.WITH_AGENT and case.agent_id == command.staff_id:
        return f"You have {number} now: what you write in its card's thread goes to the customer."
    if name == "note":
        tags = next((a.tags for a in actions if isinstance(a, RecordNote)), ())
        return f"Note added to {number}" + (f" ({' '.join('#' + t for t in tags)})." if tags else ".")
    if name == "resolve" and case.state is CaseState.RESOLVED:
        return f"{number} is resolved; the customer was told and asked how we did."
    if name == "escalate" and case.state is CaseState.ESCALATED:
        return f"{number} is escalated to Tier II: Tier II was notified and the customer told."
    if name == "devwait" and case.state is CaseState.WAITING_ON_DEVELOPMENT:
        return f"{number} is waiting on development: the customer was told, and hears from us every {_every(settings.timings.dev_status_every)}."
    if name == "hold" and case.on_hold_since is not None:
        return f"The customer on {number} got the holding line; you'll be reminded to check in every {clock_text(settings.consult.hold_checkin_every)}."
    if name == "stilllooking":
        return f"The customer on {number} heard you're still looking into it, with a call back offered."
    if consult is None:
        return ""
    label = f"{number}/{consult.number}"
    if name == "sme" and consult.state is ConsultState.WAITING:
        return f"Consult {label} ({consult.classification}) is with the {consult.group} SMEs; you'll hear in {number}'s thread when one claims it."
    if name == "claim" and consult.state is ConsultState.ACTIVE and consult.sme_id == command.staff_id:
        return f"You have consult {label}: talk with {settings.name_of(consult.agent_id) or 'the agent'} in its card's thread."
    if name in ("pause", "endconsult") and consult.state is ConsultState.ENDED:
        return f"Consult {label} is {'paused' if consult.end_reason == 'paused' else 'ended'}."
    return ""


def _answered(staff_id: str, actions: Sequence[Action]) -> bool:
    return any(isinstance(a, NotifyStaff) and a.kind == "reply" and staff_id in a.recipients for a in actions)


def _every(seconds: float) -> str:
    """'day', '12 hours', '30 minutes': how often a reminder comes, in words."""
    if seconds % 86400 == 0:
        days = int(seconds // 86400)
        return "day" if days == 1 else f"{days} days"
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)} hours"
    return f"{max(1, round(seconds / 60))} minutes"
