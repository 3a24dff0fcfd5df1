"""Agent assist: the help articles that best match a customer's words, for the agent.

Unlike the customer-facing offer, agents see agent-only articles too, and when they ask no
threshold applies: the agent judges, the ranking only orders. Articles shown without asking (on
a Slack card) are only those the ranking is confident of. Searches run on a worker thread, so a slow ranking
(the embeddings extra encodes every message, ~20 ms) never holds up the event loop; the
ranking's tokenizer is shared under a lock, so concurrent searches are safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.domain import Case
from bot.flows.intake import without_details
from bot.store.base import Store, TranscriptEntry
from bot.text import TextTooLong, clean
from bot.turn import ArticleFinder

AUDIENCES = ("customer", "agent")
MAX_QUERY_CHARS = 1000


class ArticleSearch(Protocol):
    """Ranked articles without a threshold (knowledge.index.KnowledgeBase.search satisfies it)."""

    def search(self, text: str, *, limit: int = 3, audiences: Collection[str] = ("customer",)) -> Sequence[Any]: ...


class Articles(ArticleFinder, ArticleSearch, Protocol):
    """What the service needs from a knowledge base: the engine's offers and agent assist."""


@dataclass(frozen=True)
class Suggestion:
    id: str
    title: str
    summary: str
    url: str
    agent_only: bool
    confidence: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "summary": self.summary,
            "url": self.url,
            "agent_only": self.agent_only,
            "confidence": round(self.confidence, 3),
        }


class QueryError(ValueError):
    """The words to search for are empty or too long; the message says which, for the agent."""


class AgentAssist:
    def __init__(self, finder: ArticleSearch | None, *, limit: int = 5) -> None:
        self.finder = finder
        self.limit = limit

    async def search(self, words: str) -> list[Suggestion]:
        """Top articles for `words` (raises QueryError when there is nothing sensible to search)."""
        try:
            text = clean(words, limit=MAX_QUERY_CHARS).strip()
        except TextTooLong as exc:
            raise QueryError(f"Search with at most {exc.limit} characters (that was {exc.length}).") from exc
        if not text:
            raise QueryError("Add the words to search for.")
        if self.finder is None:
            return []
        hits = await asyncio.to_thread(self.finder.search, text, limit=self.limit, audiences=AUDIENCES)
        return [_suggestion(hit) for hit in hits]

    async def for_case(self, case: Case, transcript: Sequence[TranscriptEntry]) -> tuple[str, list[Suggestion]]:
        """Top articles for what the customer said last in the case, and those words. When no
        article matches them ("ok", a button's "I still need help"), the case's problem is used.
        Either is searched without the details the intake took from it (IDs, emails, browser,
        steps), as the bot's own search is: they match no article and only dilute the rest."""
        said = [e.text for e in transcript if e.sender == "customer" and e.case_id == case.id]
        words = ""
        for words in dict.fromkeys(w for w in map(without_details, [*said[-1:], case.problem]) if w):
            try:
                found = await self.search(words)
            except QueryError:
                continue
            if found:
                return words, found
        return words, []

    async def for_problem(self, case: Case, *, at_least: float) -> tuple[str, list[Suggestion]]:
        """The articles for the case's problem (what the customer first said it is, without the
        intake's details) that the ranking is at least `at_least` sure of, and the words searched.

        For articles shown unasked (a waiting chat's card in Slack): by the time a chat is queued
        its last words are "I still need help" or "no, I need a person", which match some article
        at 27 % and tell nobody anything, and a list padded with 0 % guesses is noise. Asked for,
        the agent judges (`for_case`); unasked, only what the ranking stands behind is shown."""
        words = without_details(case.problem)
        try:
            found = await self.search(words)
        except QueryError:
            return words, []
        return words, [s for s in found if s.confidence >= at_least]


async def whole_transcript(store: Store, conversation_id: str) -> list[TranscriptEntry]:
    """Every line, page by page (a Slack DM keeps one conversation across many cases)."""
    lines: list[TranscriptEntry] = []
    while page := await store.transcript(conversation_id, after=lines[-1].seq if lines else 0):
        lines.extend(page)
    return lines


def _suggestion(hit: Any) -> Suggestion:
    article = hit.article
    return Suggestion(
        id=article.id,
        title=article.title,
        summary=article.summary,
        url=article.url,
        agent_only=getattr(article, "audience", "customer") == "agent",
        confidence=float(hit.confidence),
    )
