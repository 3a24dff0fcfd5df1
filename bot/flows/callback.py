"""Call backs: only when the customer asks, at most once per case, promised within 1.5 business days."""

from __future__ import annotations

from bot.domain import Case
from bot.events import RecordTicket
from bot.pii import PHONE
from bot.turn import Turn


def phone_in(text: str) -> str | None:
    match = PHONE.search(text)
    return match.group(0).strip() if match else None


def request(turn: Turn, case: Case, text: str) -> None:
    if case.callback_requested:
        turn.say(case, turn.spiel("callback_already", case=case.number))
        return
    case.callback_requested = True
    within = turn.settings.callback.within_business_days
    call_by = turn.services.calendar.add_business_days(turn.now, within)
    phone = phone_in(text)
    if phone:
        case.details["phone"] = phone
    case.awaiting_phone = phone is None
    ticket = turn.settings.cases.ticket_format.format(turn.world.next_ticket_id)
    turn.world.next_ticket_id += 1
    turn.actions.append(RecordTicket(case.id, ticket, "callback", phone or "", call_by))
    described = turn.services.calendar.describe(call_by)
    prompt = "" if phone else turn.spiel("callback_number_prompt")
    turn.say(
        case,
        turn.spiel("callback_booked", case=case.number, within=f"{within:g}", call_by=described, number_prompt=prompt).strip(),
    )
    turn.notify([m.id for m in turn.managers_on_duty()], turn.spiel("staff_callback", case=case.number, call_by=described), "callback", case)
    turn.changed(case)


def take_number(turn: Turn, case: Case, text: str) -> bool:
    """While a number is awaited, a message holding one completes the request; True if consumed."""
    phone = phone_in(text) if case.awaiting_phone else None
    if phone is None:
        return False
    case.details["phone"] = phone
    case.awaiting_phone = False
    turn.say(case, turn.spiel("callback_number_thanks", phone=phone))
    turn.changed(case)
    return True
