"""Call backs: only when the customer asks (SOP 001), once per customer in a while (SOP 004),
promised within 1.5 business days and returned in the order received.

"Asks" is judged by `Cues.asks_for_callback` (not "please don't call me", not "I tried your
phone number"). A message that asks and also describes a problem gets the call back *and* the
usual intake and articles. The number is asked for when missing and taken from the next message
that holds one, whoever the customer is talking to. A second request within
`callback.once_within` is offered chat or email instead (SOP 004: "don't do this more than
once … offer options other than calling back").
"""

from __future__ import annotations

import re

from bot.domain import Case
from bot.events import RecordTicket
from bot.language import Cues
from bot.turn import Turn

# A phone number in any national format: 7 to 15 digits with the usual separators ("0161 496 0000",
# "+44 (0)161-496-0000", "555-0199"). Issue 17 brings a real per-country parser.
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{5,22}\d(?![\w-])")
_CLAUSE = re.compile(r"[.!?;,\n]+")
MIN_PROBLEM_WORDS = 4  # what is left of a message beside its call-back request, to count as a problem


def phone_in(text: str) -> str | None:
    for match in _PHONE.finditer(text):
        if 7 <= sum(ch.isdigit() for ch in match.group(0)) <= 15:
            return match.group(0).strip()
    return None


def says_more(cues: Cues, text: str) -> bool:
    """Whether the message also describes something besides the call-back request."""
    rest = [c for c in _CLAUSE.split(text) if c.strip() and Cues.CALLBACK not in cues.find(c) and not phone_in(c)]
    return sum(len(c.split()) for c in rest) >= MIN_PROBLEM_WORDS


def request(turn: Turn, case: Case, text: str) -> None:
    conversation = turn.world.conversation
    last = conversation.callback_at if conversation is not None else None
    if case.callback_requested or (last is not None and turn.now - last < turn.settings.callback.once_within):
        turn.say(case, turn.spiel("callback_already", case=case.number))
        return
    if conversation is not None:
        conversation.callback_at = turn.now
    case.callback_requested = True
    within = turn.settings.callback.within_business_days
    call_by = turn.services.calendar.add_business_days(turn.now, within)
    case.callback_due_at = call_by
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
    recipients = [m.id for m in turn.managers_on_duty()] + ([case.agent_id] if case.agent_id else [])
    turn.notify(recipients, turn.spiel("staff_callback", case=case.number, call_by=described), "callback", case)
    turn.changed(case)


def take_number(turn: Turn, case: Case, text: str) -> bool:
    """While a number is awaited, a message holding one completes the request; True if consumed."""
    phone = phone_in(text) if case.awaiting_phone else None
    if phone is None:
        return False
    case.details["phone"] = phone
    case.awaiting_phone = False
    turn.say(case, turn.spiel("callback_number_thanks", phone=phone))
    if case.agent_id:  # the agent on the chat sees it arrive
        turn.notify([case.agent_id], f"{case.number}: call back number received.", "callback", case)
    turn.changed(case)
    return True


def called_back(turn: Turn, staff_id: str, case: Case) -> None:
    """`/calledback`: done, off the pending list."""
    if not case.callback_requested or case.callback_done_at is not None:
        turn.reply(staff_id, f"{case.number} has no call back waiting.", case)
        return
    case.callback_done_at = turn.now
    turn.reply(staff_id, f"Call back on {case.number} marked done.", case)
    turn.changed(case)
