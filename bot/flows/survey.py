"""CSAT answers: a 1-5 rating, then an optional comment; one survey per case (SOP 000)."""

from __future__ import annotations

from bot.domain import Case, CaseState, SurveyStage
from bot.events import Button, RecordSurvey
from bot.flows import resolution
from bot.flows.resolution import RATE, SKIP
from bot.turn import Turn

__all__ = ["RATE", "SKIP", "comment", "rate", "rating_in"]


def rate(turn: Turn, case: Case, rating: int) -> None:
    if case.survey is not SurveyStage.ASKED:
        turn.say(case, turn.spiel("survey_already", case=case.number))
        return
    case.survey = SurveyStage.COMMENT
    case.survey_rating = rating
    turn.actions.append(RecordSurvey(case.id, rating))
    turn.say(case, turn.spiel("survey_comment"), [Button(SKIP, turn.spiel("survey_skip_button"), f"{case.id}:")])
    turn.changed(case)


def comment(turn: Turn, case: Case, text: str) -> None:
    """The optional comment (or `text=""` for 'no comment') ends the survey and closes the case."""
    if case.survey is not SurveyStage.COMMENT or case.survey_rating is None:
        return
    case.survey = SurveyStage.DONE
    if text:
        turn.actions.append(RecordSurvey(case.id, case.survey_rating, text))
    turn.say(case, turn.spiel("survey_thanks"))
    if case.state is CaseState.RESOLVED:
        resolution.close(turn, case)
    else:
        turn.changed(case)


def rating_in(text: str) -> int | None:
    stripped = text.strip().rstrip(".!")
    return int(stripped) if stripped in {"1", "2", "3", "4", "5"} else None
