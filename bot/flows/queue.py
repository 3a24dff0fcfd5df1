"""The live-agent queue: honest position and wait, updates as it moves, and the 2-minute alert (SOP 001).

Honest means three things. A wait is estimated only from slots that exist (agents online and
available now); when nobody can take a chat (everyone away or offline, or the desk closed) the
customer is told so and offered to leave a message instead of hearing "about 9 minutes" for ever.
And estimates are re-told on a cadence (`queue.update_every`) while nothing moves, not only when
the position changes.
"""

from __future__ import annotations

import math

from bot.domain import Case, CaseState
from bot.events import Button
from bot.flows import offline
from bot.pii import shorten
from bot.turn import Turn

ALERT_TIMER = "queue_alert"
UPDATE_TIMER = "queue_update"
LEAVE_MESSAGE = "queue.message"  # button: leave a message (a ticket) instead of waiting
KEEP_WAITING = "queue.wait"


def route_to_person(turn: Turn, case: Case) -> None:
    """Queue for an agent when anyone is there to take the chat, else take a message (offline path)."""
    if case.state is CaseState.QUEUED:
        return
    if not staffed(turn):
        offline.take_message(turn, case)
        return
    case.state = CaseState.QUEUED
    case.queued_at = turn.now
    position = position_of(turn, case)
    case.told_position = position
    turn.say(case, turn.spiel("queued", position=position, wait=describe_wait(estimate_wait(turn, position))))
    _start_waiting(turn, case, turn.spiel("staff_queue_new", case=case.number, summary=shorten(case.problem, 120) or "no description"))


def put_back(turn: Turn, case: Case, reason: str) -> None:
    """A chat whose agent left or gave it back goes to the front of the queue, and the 2-minute
    acceptance rule starts again (the caller has ended the live chat and told the customer)."""
    case.state = CaseState.QUEUED
    case.agent_id = None
    case.queued_at = case.requeued_at = turn.now
    case.queue_alerted = False
    case.told_position = None
    case.unstaffed_told = False
    _start_waiting(turn, case, turn.spiel("staff_requeued", case=case.number, reason=reason))
    announce_positions(turn)


def _start_waiting(turn: Turn, case: Case, notice: str) -> None:
    turn.schedule(ALERT_TIMER, case, turn.settings.timings.queue_alert_after)
    turn.schedule(UPDATE_TIMER, case, turn.settings.queue.update_every)
    turn.notify([a.id for a in turn.agents_taking_chats(with_free_slot=True)], notice, "queue_new", case)
    turn.changed(case)


def staffed(turn: Turn) -> bool:
    """Whether anyone can take a chat now: the desk is open and an agent is online and available."""
    return turn.services.calendar.is_open(turn.now) and bool(turn.agents_taking_chats())


def position_of(turn: Turn, case: Case) -> int:
    return next(i for i, c in enumerate(turn.world.queue(), start=1) if c.id == case.id)


def average_handle_time(turn: Turn) -> float:
    recent = turn.world.recent_handle_times
    return sum(recent) / len(recent) if recent else float(turn.settings.queue.default_handle_time)


def estimate_wait(turn: Turn, position: int) -> float:
    """Seconds until an agent is likely to accept the chat at `position` (call only when staffed).

    Free slots take the chat after the usual accept time; beyond them a slot frees up every
    average-handle-time divided by the number of concurrent slots of the agents available now.
    """
    agents = turn.agents_taking_chats()
    slots = sum(turn.settings.capacity_of(a) for a in agents)
    free = sum(max(0, turn.settings.capacity_of(a) - turn.world.active_chats.get(a.id, 0)) for a in agents)
    wait = float(turn.settings.queue.accept_time)
    if position > free:
        wait += (position - free) * average_handle_time(turn) / max(1, slots)
    return wait


def describe_wait(seconds: float) -> str:
    """Never '0 minutes' (SOP 001): at least one minute, rounded up."""
    minutes = max(1, math.ceil(seconds / 60))
    if minutes >= 90:
        hours = math.ceil(minutes / 60)
        return f"{hours} hours"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def describe_elapsed(seconds: float) -> str:
    """Time already waited, in whole minutes (a timer firing a moment late at 2:00 still says
    "2 minutes"; an estimate ahead rounds up instead)."""
    minutes = max(1, int(seconds // 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def announce_positions(turn: Turn) -> None:
    """Tell every queued customer whose position changed where they now stand (or, when nobody can
    take chats, that nobody can)."""
    if not staffed(turn):
        tell_unstaffed(turn)
        return
    for position, case in enumerate(turn.world.queue(), start=1):
        if case.told_position == position and not case.unstaffed_told:
            continue
        case.told_position = position
        case.unstaffed_told = False
        turn.say(case, turn.spiel("queue_position", position=position, wait=describe_wait(estimate_wait(turn, position))))


def tell_unstaffed(turn: Turn) -> None:
    """Queued customers not yet told hear that nobody can take chats, with a choice."""
    reply_by = turn.services.calendar.describe(
        turn.services.calendar.add_business_days(turn.now, turn.settings.offline.reply_within_business_days)
    )
    for case in turn.world.queue():
        if case.unstaffed_told:
            continue
        case.unstaffed_told = True
        buttons = [
            Button(LEAVE_MESSAGE, turn.spiel("leave_message_button"), f"{case.id}:"),
            Button(KEEP_WAITING, turn.spiel("keep_waiting_button"), f"{case.id}:"),
        ]
        turn.say(case, turn.spiel("queue_unstaffed", reply_by=reply_by), buttons)
        turn.changed(case)


def on_update_timer(turn: Turn, case: Case) -> None:
    """The cadence: a fresh, honest estimate while nothing moves (or the news that nobody can come)."""
    if case.state is not CaseState.QUEUED:
        return
    turn.schedule(UPDATE_TIMER, case, turn.settings.queue.update_every)
    if not staffed(turn):
        tell_unstaffed(turn)
        return
    position = position_of(turn, case)
    case.told_position = position
    case.unstaffed_told = False
    turn.say(case, turn.spiel("queue_update", position=position, wait=describe_wait(estimate_wait(turn, position))))
    turn.changed(case)


def leave_a_message(turn: Turn, case: Case) -> None:
    """The customer chose a ticket over waiting."""
    offline.take_message(turn, case)
    leave(turn, case)


def keep_waiting(turn: Turn, case: Case) -> None:
    turn.say(case, turn.spiel("keep_waiting", position=position_of(turn, case)))


def on_text_while_queued(turn: Turn, case: Case) -> None:
    if not staffed(turn):
        turn.say(case, turn.spiel("case_added", case=case.number))
        turn.changed(case)
        return
    position = position_of(turn, case)
    wait = describe_wait(estimate_wait(turn, position))
    turn.say(case, turn.spiel("queue_still_waiting", case=case.number, position=position, wait=wait))
    turn.changed(case)


def on_alert_timer(turn: Turn, case: Case) -> None:
    """A chat unanswered for the configured time alerts every available agent and the manager on duty."""
    if case.state is not CaseState.QUEUED or case.queue_alerted:
        return
    case.queue_alerted = True
    waited = describe_elapsed(turn.now - (case.queued_at or turn.now))
    recipients = [a.id for a in turn.agents_taking_chats()] + [m.id for m in turn.managers_on_duty()]
    turn.notify(recipients, turn.spiel("staff_queue_alert", case=case.number, waited=waited), "sla_alert", case)
    turn.changed(case)


def leave(turn: Turn, case: Case) -> None:
    """The case left the queue (accepted, resolved, escalated): stop its timers, update the others."""
    turn.cancel(ALERT_TIMER, case)
    turn.cancel(UPDATE_TIMER, case)
    case.told_position = None
    case.requeued_at = None
    case.unstaffed_told = False
    announce_positions(turn)
