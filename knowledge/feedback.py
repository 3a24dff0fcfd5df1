"""Learning from answers: the customers' own words for the articles that helped them.

When a customer confirms that an offered article solved it, the words the bot searched with are a
question that article answers, phrased the way customers phrase it rather than the way its author
did. They join the article's questions at the next re-index (`KnowledgeBase.learn`), so the next
customer who says it that way finds it. A confirmation undone by a "came back" (the customer
returned about the same topic soon after) is not learnt, and only the newest few per article are
kept, so no single customer can reshape an article.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from bot.report import offer_article_ids

logger = logging.getLogger(__name__)


def confirmed_questions(offers: Iterable[dict[str, Any]], *, per_article: int) -> dict[str, list[str]]:
    """Article id → the newest `per_article` distinct queries confirmed helpful for it, oldest first.

    `offers` are the store's offer records in the order they were written: "offered" rows carry
    the query and the articles offered; "helped" and "came_back" rows name the article answered.
    """
    rows = list(offers)
    undone = {(row["case_id"], article) for row in rows if row["event"] == "came_back" for article in offer_article_ids(row)}
    offered: dict[int, tuple[str, set[str]]] = {}
    learned: dict[str, dict[str, None]] = {}
    for row in rows:
        if row["event"] == "offered":
            offered[row["case_id"]] = (str(row["query"]), set(offer_article_ids(row)))
            continue
        if row["event"] != "helped":
            continue
        query, articles = offered.get(row["case_id"], ("", set()))
        for article in offer_article_ids(row):
            if article in articles and query.strip() and (row["case_id"], article) not in undone:
                queries = learned.setdefault(article, {})
                queries.pop(query, None)  # confirmed again: now the newest
                queries[query] = None
    return {article: list(queries)[-per_article:] for article, queries in learned.items() if per_article > 0}


@runtime_checkable
class Learner(Protocol):
    """A knowledge base that takes learnt questions (knowledge.index.KnowledgeBase.learn)."""

    def learn(self, questions: Mapping[str, Sequence[str]]) -> bool: ...


async def keep_learning(
    offers: Callable[[], Awaitable[list[dict[str, Any]]]], learner: Learner, *, every: float, per_article: int
) -> None:
    """Every `every` seconds, hands the confirmed questions to the knowledge base; its re-index
    runs on a worker thread, so customers' searches go on meanwhile (the old index serves them)."""
    while True:
        try:
            questions = confirmed_questions(await offers(), per_article=per_article)
            await asyncio.to_thread(learner.learn, questions)
        except Exception:  # noqa: BLE001 - learning is an extra: never let it take the service down
            logger.exception("learning from answers failed")
        await asyncio.sleep(every)
