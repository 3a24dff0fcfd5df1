"""Help-article self-service: offer only confident matches, then find out whether they helped (SOP 000)."""

from __future__ import annotations

from bot.domain import Case, CaseState
from bot.events import Button, RecordOffer, RecordOfferOutcome
from bot.flows import intake, queue, resolution
from bot.language import Cues
from bot.turn import Turn

SOLVED = "article.solved"
MORE_HELP = "article.more"
CHECK_YES = "article.check_yes"
CHECK_NO = "article.check_no"
CHECK_TIMER = "article_check"


def search_text(case: Case) -> str:
    """What the customer said the problem is, without the details the intake already took out of it;
    the error message is added only when the description alone says little."""
    about = intake.without_details(case.problem)
    error = case.details.get("error", "")
    if len(about.split()) <= 4 and error and error not in about:
        about = f"{about} {error}".strip()
    return about


def offer_or_route(turn: Turn, case: Case) -> None:
    """Offers up to `knowledge.max_offers` articles the ranking is sure of, else goes to a person."""
    query = search_text(case)
    hits = list(turn.services.articles.suggest(query, limit=turn.settings.knowledge.max_offers))
    turn.actions.append(
        RecordOffer(case.id, tuple(h.article.id for h in hits), query, tuple(round(h.confidence, 4) for h in hits))
    )
    _came_back(turn, case, [h.article.id for h in hits])
    if not hits:
        queue.route_to_person(turn, case)
        return
    case.state = CaseState.SELF_SERVICE
    case.offered_articles = [h.article.id for h in hits]
    lines = "\n".join(
        turn.spiel("offer_article_line", title=h.article.title, summary=h.article.summary, url=h.article.url).strip()
        for h in hits
    )
    if len(hits) == 1:
        buttons = [Button(SOLVED, turn.spiel("solved_button"), f"{case.id}:{hits[0].article.id}")]
    else:
        buttons = [
            Button(SOLVED, turn.spiel("solved_button_numbered", number=n), f"{case.id}:{h.article.id}")
            for n, h in enumerate(hits, start=1)
        ]
    buttons.append(Button(MORE_HELP, turn.spiel("still_need_help_button"), f"{case.id}:"))
    turn.say(case, turn.spiel("offer_articles", articles=lines), buttons)
    turn.schedule(CHECK_TIMER, case, turn.settings.timings.article_check_after)


def _came_back(turn: Turn, case: Case, offered: list[str]) -> None:
    """Offering again the article that solved the customer's previous case days ago means it did not
    last: recorded against the previous case, once."""
    if case.previously_helped is None or case.previous_case_id is None:
        return
    if case.previously_helped in offered:
        turn.actions.append(RecordOfferOutcome(case.previous_case_id, "came_back", case.previously_helped))
    case.previously_helped = None


def on_check_timer(turn: Turn, case: Case) -> None:
    """No answer to the offer within the configured time: ask once whether it helped."""
    if case.state is not CaseState.SELF_SERVICE or case.offer_answered or case.article_checked:
        return
    case.article_checked = True
    turn.say(
        case,
        turn.spiel("article_check"),
        [
            Button(CHECK_YES, turn.spiel("check_yes_button"), f"{case.id}:"),
            Button(CHECK_NO, turn.spiel("check_no_button"), f"{case.id}:"),
        ],
    )


def helped(turn: Turn, case: Case, article_id: str | None) -> None:
    chosen = article_id if article_id in case.offered_articles else None
    if chosen is None and len(case.offered_articles) == 1:
        chosen = case.offered_articles[0]
    case.offer_answered = True
    case.helped_article = chosen
    turn.actions.append(RecordOfferOutcome(case.id, "helped", chosen))
    turn.cancel(CHECK_TIMER, case)
    turn.say(case, turn.spiel("self_service_resolved", case=case.number))
    resolution.resolve(turn, case, how="self_service")


def not_helped(turn: Turn, case: Case) -> None:
    case.offer_answered = True
    turn.actions.append(RecordOfferOutcome(case.id, "not_helped"))
    turn.cancel(CHECK_TIMER, case)
    queue.route_to_person(turn, case)


def on_text(turn: Turn, case: Case, text: str) -> None:
    """Free text while articles are on offer: 'that worked' resolves; anything else means more help."""
    cues = turn.services.cues.find(text)
    if Cues.SOLVED in cues and Cues.NOT_SOLVED not in cues:
        helped(turn, case, None)
    else:
        not_helped(turn, case)
