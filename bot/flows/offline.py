"""Nobody to chat with: take a message, make a ticket, say when a reply will come (SOPs 000, 001)."""

from __future__ import annotations

from bot.domain import Case, CaseState
from bot.events import RecordTicket
from bot.flows import intake
from bot.turn import Turn


def take_message(turn: Turn, case: Case) -> None:
    reply_by = turn.services.calendar.add_business_days(turn.now, turn.settings.offline.reply_within_business_days)
    case.state = CaseState.TICKETED
    case.reply_by = reply_by
    case.ticketed_at = turn.now
    case.ticket = turn.settings.cases.ticket_format.format(turn.world.next_ticket_id)
    turn.world.next_ticket_id += 1
    turn.actions.append(RecordTicket(case.id, case.ticket, "offline_message", _ticket_text(case), reply_by))
    text = turn.spiel("offline", ticket=case.ticket, case=case.number, reply_by=turn.services.calendar.describe(reply_by))
    if "email" not in case.details:
        text = f"{text} {turn.spiel('offline_need_email')}"
    turn.say(case, text)
    turn.notify([m.id for m in turn.managers_on_duty()], turn.spiel("staff_ticket", ticket=case.ticket, case=case.number), "ticket", case)
    turn.changed(case)


def on_text(turn: Turn, case: Case, text: str) -> None:
    """A message added to a ticketed case; an email address given here is kept as the reply address."""
    intake.absorb(case, text)
    reply_by = turn.services.calendar.add_business_days(turn.now, turn.settings.offline.reply_within_business_days)
    turn.say(case, turn.spiel("offline_added", case=case.number, reply_by=turn.services.calendar.describe(reply_by)))
    turn.changed(case)


def _ticket_text(case: Case) -> str:
    lines = [case.problem] + [f"{key}: {value}" for key, value in sorted(case.details.items())]
    return "\n".join(line for line in lines if line)
