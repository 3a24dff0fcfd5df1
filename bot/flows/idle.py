"""The idle-time SOP in customer chats, and hold check-ins (SOP 003).

When the agent has spoken and the customer goes quiet: at 2:00 a prompt ("just checking you're
with me?"), 1:50 later a warning to the agent, and at 4:00 of silence the end message and the chat
ends. Every message resets it. A customer whose sign-off ("thanks, bye") is the latest message of
the chat is closed with the closing spiel at once (after `consult.signoff_close_after`, a 30 s grace in
which either side may still write; "0s" closes that instant)
instead of being prompted; once the agent writes again ("Before you go: …") the sign-off no longer
counts and the normal ladder runs. Typing pauses the clock, but typing for more than 2:00 without a
message counts as silence. A customer on hold is waiting on us: no prompts, but the agent is
reminded to check in every 2 minutes.
"""

from __future__ import annotations

from bot.domain import Case, CaseState, platform_of
from bot.flows import queue, resolution
from bot.turn import Turn, clock_text

PROMPT_TIMER = "customer_idle"
WARN_TIMER = "customer_idle_warn"
END_TIMER = "customer_idle_end"
HOLD_TIMER = "hold_checkin"
TYPING_FRESH = 15.0  # a typing signal older than this means they stopped typing


def applies(turn: Turn, case: Case) -> bool:
    return case.state is CaseState.WITH_AGENT and platform_of(case.conversation_id) in turn.settings.consult.customer_idle_platforms


def agent_spoke(turn: Turn, case: Case) -> None:
    """The agent said something to the customer: the customer's turn, so the idle clock starts."""
    case.last_agent_at = turn.now
    stop(turn, case)
    if applies(turn, case) and case.on_hold_since is None:
        turn.schedule(PROMPT_TIMER, case, turn.settings.consult.idle_prompt_after)


def customer_spoke(turn: Turn, case: Case, text: str) -> bool:
    """Resets the idle clock; True when the message was a sign-off that closed the chat."""
    case.last_customer_at = turn.now
    case.customer_last_text = text
    case.customer_typing_since = None
    case.customer_typing_at = None
    stop(turn, case)
    if not applies(turn, case) or case.on_hold_since is not None or not turn.services.cues.is_goodbye(text):
        return False
    after = turn.settings.consult.signoff_close_after
    if after > 0:
        turn.schedule(PROMPT_TIMER, case, after)  # closes then, unless someone writes first
        return False
    _close_signed_off(turn, case)
    return True


def _signed_off_last(turn: Turn, case: Case) -> bool:
    """The customer's sign-off is the latest message of the chat (nobody wrote after it)."""
    return (
        bool(case.customer_last_text)
        and (case.last_agent_at is None or (case.last_customer_at or 0.0) >= case.last_agent_at)
        and turn.services.cues.is_goodbye(case.customer_last_text)
    )


def _close_signed_off(turn: Turn, case: Case) -> None:
    turn.say(case, turn.to_customer("chat_closing", case))
    resolution.resolve(turn, case, how="agent")
    queue.announce_positions(turn)


def customer_typing(turn: Turn, case: Case) -> None:
    if case.customer_typing_since is None or turn.now - (case.customer_typing_at or 0.0) > TYPING_FRESH:
        case.customer_typing_since = turn.now
    case.customer_typing_at = turn.now


def stop(turn: Turn, case: Case) -> None:
    if case.customer_idle_stage:
        case.customer_idle_stage = 0
    for kind in (PROMPT_TIMER, WARN_TIMER, END_TIMER):
        turn.cancel(kind, case)


def on_prompt_timer(turn: Turn, case: Case) -> None:
    if not applies(turn, case) or case.on_hold_since is not None:
        return
    settings = turn.settings.consult
    typing_since = case.customer_typing_since
    if typing_since is not None and turn.now - (case.customer_typing_at or 0.0) <= TYPING_FRESH:
        long_typing_at = typing_since + settings.typing_counts_as_idle_after
        if long_typing_at > turn.now:  # still typing, not yet for too long: wait for the message
            turn.schedule(PROMPT_TIMER, case, long_typing_at - turn.now)
            return
    if _signed_off_last(turn, case):
        _close_signed_off(turn, case)
        return
    case.customer_idle_stage = 1
    turn.say(case, turn.to_customer("idle_prompt", case))
    turn.schedule(WARN_TIMER, case, settings.idle_warning_after_prompt)
    turn.schedule(END_TIMER, case, settings.idle_end_after - settings.idle_prompt_after)
    turn.changed(case)


def on_warn_timer(turn: Turn, case: Case) -> None:
    if not applies(turn, case) or case.customer_idle_stage != 1 or case.agent_id is None:
        return
    case.customer_idle_stage = 2
    settings = turn.settings.consult
    text = turn.spiel(
        "staff_customer_idle", case=case.number, waited=clock_text(settings.idle_prompt_after + settings.idle_warning_after_prompt),
        prompt_at=clock_text(settings.idle_prompt_after), end_at=clock_text(settings.idle_end_after),
    )
    turn.notify([case.agent_id], text, "customer_idle", case)


def on_end_timer(turn: Turn, case: Case) -> None:
    if not applies(turn, case) or case.customer_idle_stage == 0:
        return
    if case.customer_typing_at is not None and turn.now - case.customer_typing_at <= TYPING_FRESH:
        turn.schedule(END_TIMER, case, TYPING_FRESH)  # the SOP ends a chat only when nobody is typing
        return
    turn.say(case, turn.spiel("idle_end"))
    turn.say(case, turn.spiel("idle_end_followup"))
    resolution.resolve(turn, case, how="idle", survey=False)
    resolution.close(turn, case)


def hold(turn: Turn, case: Case, staff_id: str) -> None:
    """The agent puts the customer on hold with the holding line (which never mentions an expert)."""
    stop(turn, case)
    case.on_hold_since = turn.now
    turn.say(case, turn.to_customer("holding_line", case), sender="agent", sender_name=turn.staff_name(staff_id))
    turn.schedule(HOLD_TIMER, case, turn.settings.consult.hold_checkin_every)
    turn.changed(case)


def checked_in(turn: Turn, case: Case) -> None:
    """Any word to a customer on hold is a check-in: the reminder starts again."""
    if case.on_hold_since is not None:
        turn.schedule(HOLD_TIMER, case, turn.settings.consult.hold_checkin_every)


def still_looking(turn: Turn, staff_id: str, case: Case) -> None:
    """The one action for a slow consult: tell the customer we're on it and offer a call back."""
    turn.say(case, turn.to_customer("still_looking", case), sender="agent", sender_name=turn.staff_name(staff_id))
    checked_in(turn, case)
    turn.changed(case)


def release_hold(turn: Turn, case: Case) -> None:
    if case.on_hold_since is not None:
        case.on_hold_since = None
        turn.cancel(HOLD_TIMER, case)


def on_hold_timer(turn: Turn, case: Case) -> None:
    if case.on_hold_since is None or case.state is not CaseState.WITH_AGENT or case.agent_id is None:
        return
    waited = clock_text(turn.now - case.on_hold_since)
    turn.notify([case.agent_id], turn.spiel("staff_hold_checkin", case=case.number, waited=waited), "hold_checkin", case)
    turn.schedule(HOLD_TIMER, case, turn.settings.consult.hold_checkin_every)
