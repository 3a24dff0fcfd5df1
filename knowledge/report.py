"""`supportbot kb report`: how helpful each article is, and where the knowledge base falls short.

Built from the offers table (every offer and its outcome, counted by `bot.report.article_tallies`,
so `supportbot report` and this agree) plus the article folder, for the articles never offered.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot import pii
from bot.report import ArticleTally, article_tallies
from knowledge.index import Article

DAY = 86400.0
_DIGITS = re.compile(r"\d+")
_MASKED_EMAIL = re.compile(r"\S\*{3}@[\w.-]*\w")  # what pii.redact leaves of an email
_MASKED_PHONE = re.compile(r"•••\d*")  # and of a phone number
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ReportOptions:
    """The period (None = all time) and what counts as an article that rarely helps."""

    now: float
    days: int | None = 30
    min_offers: int = 5
    below: float = 0.5
    timezone: str = "UTC"


def build(offers: Sequence[dict[str, Any]], articles: Sequence[Article], options: ReportOptions) -> dict[str, Any]:
    """One JSON-ready object: per-article numbers and the three knowledge-gap lists."""
    in_period = _in_period(offers, options)
    tallies = article_tallies(in_period)
    return {
        "since": _since(options),
        "days": options.days,
        "articles": {article: tally.as_dict() for article, tally in sorted(tallies.items())},
        "gaps": {
            "unanswered_questions": _unanswered(in_period),
            "rarely_helpful": _rarely_helpful(tallies, options),
            "never_offered": _never_offered(tallies, articles, _today(options)),
        },
        "rarely_helpful_rule": {"min_offers": options.min_offers, "below": options.below},
    }


def normalise(query: str) -> str:
    """Groups the same question asked with different emails, numbers, case and spacing. Emails and
    phone numbers are masked by bot.pii, then reduced to a placeholder, and every other digit run
    (user IDs, order numbers) to '#', so no customer's details reach a manager's report."""
    masked = _MASKED_PHONE.sub("<phone>", _MASKED_EMAIL.sub("<email>", pii.redact(query)))
    return _SPACE.sub(" ", _DIGITS.sub("#", masked.lower())).strip(" .,;:!?")


def _in_period(offers: Sequence[dict[str, Any]], options: ReportOptions) -> list[dict[str, Any]]:
    """Rows of the cases first offered in the period, outcomes included even when they came later
    (a came-back is recorded days after its offer), so each rate stays between 0 and 1."""
    if options.days is None:
        return list(offers)
    start = options.now - options.days * DAY
    cases = {o["case_id"] for o in offers if o["event"] == "offered" and o["at"] >= start}
    return [o for o in offers if o["case_id"] in cases]


def _unanswered(offers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Questions the ranking declined (an offer of no article), most frequent first."""
    texts = Counter(normalise(o["query"]) for o in offers if o["event"] == "offered" and o["article_ids"] == "[]")
    texts.pop("", None)
    return [{"text": text, "count": count} for text, count in sorted(texts.items(), key=lambda item: (-item[1], item[0]))]


def _rarely_helpful(tallies: dict[str, ArticleTally], options: ReportOptions) -> list[dict[str, Any]]:
    """Articles offered often enough to judge whose helpful rate is under the bar, worst first."""
    poor = [
        (tally.helpful, article, tally.offered)
        for article, tally in tallies.items()
        if tally.offered >= options.min_offers and tally.helpful is not None and tally.helpful < options.below
    ]
    return [{"article": a, "offered": n, "helpful": rate} for rate, a, n in sorted(poor)]


def _never_offered(tallies: dict[str, ArticleTally], articles: Sequence[Article], today: date) -> list[str]:
    """Customer articles that could have been offered today but were not in the period: wrong words,
    or a topic nobody asks about. Agent-only, expired and replaced articles are never offered anyway."""
    offered = {article for article, tally in tallies.items() if tally.offered}
    return sorted(a.id for a in articles if a.audience == "customer" and a.is_live(today) and a.id not in offered)


def _today(options: ReportOptions) -> date:
    return datetime.fromtimestamp(options.now, ZoneInfo(options.timezone)).date()


def _since(options: ReportOptions) -> str | None:
    if options.days is None:
        return None
    return datetime.fromtimestamp(options.now - options.days * DAY, ZoneInfo(options.timezone)).date().isoformat()


def format_text(report: dict[str, Any]) -> str:
    """The report for a terminal: a table of articles, then the gaps."""
    period = f"since {report['since']} ({report['days']} days)" if report["since"] else "all time"
    lines = [f"Help articles, {period}", _table(report["articles"]), "", "Knowledge gaps"]
    gaps = report["gaps"]
    lines.append("Questions with no good article (the ranking declined):")
    lines += [f"  {q['count']:>5}  {q['text']}" for q in gaps["unanswered_questions"]] or ["  none"]
    rule = report["rarely_helpful_rule"]
    lines.append(f"Articles that rarely help (offered at least {rule['min_offers']} times, helpful below {rule['below']:.2f}):")
    lines += [f"  {a['article']}: offered {a['offered']}, helpful {a['helpful']:.2f}" for a in gaps["rarely_helpful"]] or ["  none"]
    lines.append("Articles never offered:")
    lines += [f"  {article}" for article in gaps["never_offered"]] or ["  none"]
    return "\n".join(lines)


def _table(articles: dict[str, dict[str, Any]]) -> str:
    if not articles:
        return "  no offers"
    width = max(len("article"), *(len(a) for a in articles))
    head = f"  {'article':<{width}}  offered  helped  not helped  no answer  came back  helpful"
    rows = [
        f"  {article:<{width}}  {n['offered']:>7}  {n['helped']:>6}  {n['not_helped']:>10}  {n['no_answer']:>9}  "
        f"{n['came_back']:>9}  {'-' if n['helpful'] is None else format(n['helpful'], '.2f'):>7}"
        for article, n in articles.items()
    ]
    return "\n".join([head, *rows])
