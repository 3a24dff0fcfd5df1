"""Escalations: a customer asking for a manager, Tier I → Tier II, and waiting on development (SOPs 000, 002)."""

from __future__ import annotations

from bot.domain import Case, CaseState, Role
from bot.flows import consult, queue
from bot.pii import shorten
from bot.turn import Turn

DEV_STATUS_TIMER = "dev_status"


def customer_wants_manager(turn: Turn, case: Case) -> None:
    """Alert the manager on duty; a customer not yet with a person is also put through to one."""
    first_time = not case.manager_escalated
    case.manager_escalated = True
    if case.agent_id and case.state is CaseState.WITH_AGENT:
        agent_line = f"{turn.staff_name(case.agent_id)} is on the chat."
    else:
        agent_line = f"No advisor has it yet (state: {case.state.value.replace('_', ' ')})."
    if first_time:
        recipients = [m.id for m in turn.managers_on_duty()]
        if case.agent_id:
            recipients.append(case.agent_id)
        turn.notify(recipients, turn.spiel("staff_manager_request", case=case.number, agent_line=agent_line), "manager", case)
    turn.say(case, turn.spiel("manager_alerted", case=case.number))
    if case.state in (CaseState.NEW, CaseState.SELF_SERVICE):
        queue.route_to_person(turn, case)
    turn.changed(case)


def to_tier2(turn: Turn, case: Case, by: str) -> None:
    turn.world.end_live_chat(case)
    was_queued = case.state is CaseState.QUEUED
    consult.end_all(turn, case)
    case.state = CaseState.ESCALATED
    case.tier = 2
    case.agent_id = None
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
