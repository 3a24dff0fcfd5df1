"""The live-agent queue: honest position and wait, updates as it moves, and the 2-minute alert (SOP 001)."""

from __future__ import annotations

import math

from bot.domain import Case, CaseState
from bot.flows import offline
from bot.pii import shorten
from bot.turn import Turn

ALERT_TIMER = "queue_alert"


def route_to_person(turn: Turn, case: Case) -> None:
    """Queue for an agent when anyone is there to take the chat, else take a message (offline path)."""
    if case.state is CaseState.QUEUED:
        return
    if not turn.services.calendar.is_open(turn.now) or not turn.agents_taking_chats():
        offline.take_message(turn, case)
        return
    case.state = CaseState.QUEUED
    case.queued_at = turn.now
    position = position_of(turn, case)
    case.told_position = position
    turn.say(case, turn.spiel("queued", position=position, wait=describe_wait(estimate_wait(turn, position))))
    turn.schedule(ALERT_TIMER, case, turn.settings.timings.queue_alert_after)
    summary = shorten(case.problem, 120) or "no description"
    turn.notify(
        [a.id for a in turn.agents_taking_chats(with_free_slot=True)],
        turn.spiel("staff_queue_new", case=case.number, summary=summary),
        "queue_new",
        case,
    )
    turn.changed(case)


def position_of(turn: Turn, case: Case) -> int:
    return next(i for i, c in enumerate(turn.world.queue(), start=1) if c.id == case.id)


def average_handle_time(turn: Turn) -> float:
    recent = turn.world.recent_handle_times
    return sum(recent) / len(recent) if recent else float(turn.settings.queue.default_handle_time)


def estimate_wait(turn: Turn, position: int) -> float:
    """Seconds until an agent is likely to accept the chat at `position`.

    Free slots take the chat after the usual accept time; beyond them a slot frees up every
    average-handle-time divided by the number of concurrent slots.
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
    """Tell every queued customer whose position changed where they now stand."""
    for position, case in enumerate(turn.world.queue(), start=1):
        if case.told_position == position:
            continue
        case.told_position = position
        turn.say(case, turn.spiel("queue_position", position=position, wait=describe_wait(estimate_wait(turn, position))))


def on_text_while_queued(turn: Turn, case: Case) -> None:
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
    """The case left the queue (accepted, resolved, escalated): stop its alert, update the others."""
    turn.cancel(ALERT_TIMER, case)
    case.told_position = None
    announce_positions(turn)
