"""Escalations: a customer asking for a manager, Tier I → Tier II, and waiting on development (SOPs 000, 002)."""

from __future__ import annotations

from bot.domain import Case, CaseState, Role
from bot.flows import consult, queue
from bot.pii import shorten
from bot.turn import Turn

DEV_STATUS_TIMER = "dev_status"
TIER2_ALERT_TIMER = "tier2_alert"


def customer_wants_manager(turn: Turn, case: Case) -> None:
    """A request for a manager always reaches a person: the manager on duty if online, else the
    next manager, else a Tier II lead who is online, and the agent on the chat; every request,
    a repeat too, notifies again. The customer hears the truth: someone will join, or (nobody
    online) a manager will contact them by a date. The case keeps the request, so a manager
    signing in later sees it on their console."""
    case.manager_escalated = True
    case.manager_requested_at = turn.now
    if case.agent_id and case.state is CaseState.WITH_AGENT:
        agent_line = f"{turn.staff_name(case.agent_id)} is on the chat."
    else:
        agent_line = f"No advisor has it yet (state: {case.state.value.replace('_', ' ')})."
    reached = _first_online(turn, [[m.id for m in turn.managers_on_duty()], [m.id for m in turn.members(Role.MANAGER)],
                                   [m.id for m in turn.members(Role.TIER2)]])
    recipients = [m.id for m in turn.managers_on_duty()] + reached + ([case.agent_id] if case.agent_id else [])
    turn.notify(recipients, turn.spiel("staff_manager_request", case=case.number, agent_line=agent_line), "manager", case)
    if reached:
        turn.say(case, turn.spiel("manager_alerted", case=case.number))
    else:
        calendar = turn.services.calendar
        reply_by = calendar.describe(calendar.add_business_days(turn.now, turn.settings.offline.reply_within_business_days))
        turn.say(case, turn.spiel("manager_later", case=case.number, reply_by=reply_by))
    if case.state in (CaseState.NEW, CaseState.SELF_SERVICE):
        queue.route_to_person(turn, case)
    turn.changed(case)


def _first_online(turn: Turn, chain: list[list[str]]) -> list[str]:
    """The first link of the chain with anyone online, those of them who are."""
    for link in chain:
        online = [staff_id for staff_id in link if turn.world.agent(staff_id).online]
        if online:
            return online
    return []


def to_tier2(turn: Turn, case: Case, by: str) -> None:
    turn.world.end_live_chat(case)
    was_queued = case.state is CaseState.QUEUED
    consult.end_all(turn, case)
    case.state = CaseState.ESCALATED
    case.tier = 2
    case.agent_id = None
    case.escalated_at = turn.now
    turn.schedule(TIER2_ALERT_TIMER, case, turn.settings.timings.queue_alert_after)
    if was_queued:
        queue.leave(turn, case)
    turn.say(case, turn.spiel("escalated_tier2", case=case.number))
    summary = shorten(case.problem, 160) or "no description"
    turn.notify(
        [m.id for m in turn.members(Role.TIER2)],
        turn.spiel("staff_tier2_new", case=case.number, agent=turn.staff_name(by), summary=summary),
        "tier2",
        case,
    )
    turn.changed(case)


def on_tier2_alert_timer(turn: Turn, case: Case) -> None:
    """An escalated case nobody in Tier II has taken is held to the same acceptance rule as a chat."""
    if case.state is not CaseState.ESCALATED:
        return
    waited = queue.describe_elapsed(turn.now - (case.escalated_at or turn.now))
    recipients = [m.id for m in turn.members(Role.TIER2)] + [m.id for m in turn.managers_on_duty()]
    turn.notify(recipients, turn.spiel("staff_tier2_alert", case=case.number, waited=waited), "sla_alert", case)


def to_manager(turn: Turn, case: Case, by: str) -> None:
    text = turn.spiel("staff_manager_escalation", case=case.number, agent=turn.staff_name(by))
    turn.notify([m.id for m in turn.managers_on_duty()], text, "manager", case)
    turn.changed(case)


def waiting_on_development(turn: Turn, case: Case) -> None:
    """The owner keeps the case, but it no longer takes one of their live-chat slots."""
    turn.world.end_live_chat(case)
    was_queued = case.state is CaseState.QUEUED
    case.state = CaseState.WAITING_ON_DEVELOPMENT
    if was_queued:
        queue.leave(turn, case)
    turn.say(case, turn.spiel("waiting_on_development", case=case.number))
    turn.schedule(DEV_STATUS_TIMER, case, turn.settings.timings.dev_status_every)
    turn.changed(case)


def on_dev_status_timer(turn: Turn, case: Case) -> None:
    """Status reminders while development works on it, so customers know they aren't forgotten."""
    if case.state is not CaseState.WAITING_ON_DEVELOPMENT:
        return
    turn.say(case, turn.spiel("development_status", case=case.number))
    turn.schedule(DEV_STATUS_TIMER, case, turn.settings.timings.dev_status_every)
