"""Resolving and closing a case: free the agent, stop its timers, ask for its one CSAT survey."""

from __future__ import annotations

from bot.domain import Case, CaseState, SurveyStage
from bot.events import Button, RecordHandleTime
from bot.flows import consult, queue
from bot.turn import Turn

CLOSE_TIMER = "close_resolved"
CASE_TIMERS = (
    "article_check", "queue_alert", "queue_update", "dev_status", "customer_idle", "customer_idle_warn", "customer_idle_end",
    "hold_checkin", "agent_gone", "tier2_alert",
)
RATE = "survey.rate"
SKIP = "survey.skip"


def resolve(turn: Turn, case: Case, *, how: str, survey: bool = True) -> None:
    """Resolves the case; `survey=False` when the chat ended without the customer (idle)."""
    was_queued = case.state is CaseState.QUEUED
    if case.state is CaseState.WITH_AGENT and case.accepted_at is not None:
        turn.actions.append(RecordHandleTime(case.id, turn.now - case.accepted_at))
    turn.world.end_live_chat(case)
    case.state = CaseState.RESOLVED
    case.resolved_at = turn.now
    case.resolution = how
    for kind in CASE_TIMERS:
        turn.cancel(kind, case)
    if was_queued:
        queue.announce_positions(turn)
    case.on_hold_since = None
    consult.end_all(turn, case)
    if survey and case.survey is SurveyStage.NOT_ASKED:
        case.survey = SurveyStage.ASKED
        buttons = [Button(RATE, str(n), f"{case.id}:{n}") for n in range(1, 6)]
        turn.say(case, turn.spiel("survey_ask", case=case.number), buttons)
    turn.schedule(CLOSE_TIMER, case, turn.settings.timings.close_resolved_after)
    turn.changed(case)


def on_close_timer(turn: Turn, case: Case) -> None:
    if case.state is CaseState.RESOLVED:
        close(turn, case)


def close(turn: Turn, case: Case) -> None:
    case.state = CaseState.CLOSED
    turn.cancel(CLOSE_TIMER, case)
    turn.changed(case)
