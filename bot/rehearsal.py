"""Encoding a customer's words before their turn, so a slow article search never stalls the loop.

With the embeddings extra a search encodes the customer's words with a sentence model (~20 ms of
CPU). The engine is synchronous and runs on the event loop, so that encode would hold up every
other chat, acknowledgement and page for its duration. Which words get searched is only known
inside the engine (the intake strips IDs and emails, and a case's problem may have been said
turns earlier). So before a customer's message is handled, the engine runs it once on a throwaway
copy of the world, with a finder that only notes what would be searched; those texts are encoded
on a worker thread; the real turn then finds their vectors ready. Should the world change in
between, the real search encodes on the spot: slower, never wrong.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from bot.clock import Clock
from bot.config import Settings
from bot.domain import Conversation
from bot.engine import ConversationManager
from bot.events import ConversationStarted, CustomerMessage, Event
from bot.store.base import Store, StoreError
from bot.turn import ArticleSuggestion, Services

log = logging.getLogger(__name__)


@runtime_checkable
class PreparesMessages(Protocol):
    """A finder whose search may be worth preparing (knowledge.index.KnowledgeBase.prepare)."""

    @property
    def encodes_messages(self) -> bool:
        """False when a search would encode nothing (the extra failed to load): no rehearsal then."""
        ...

    def prepare(self, texts: Sequence[str]) -> None: ...


class QueryRecorder:
    """The rehearsal's finder: notes what the engine would search for and offers nothing."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def suggest(self, text: str, *, limit: int = 3) -> Sequence[ArticleSuggestion]:
        self.queries.append(text)
        return []


class Rehearsal:
    def __init__(self, settings: Settings, services: Services, store: Store, clock: Clock, finder: PreparesMessages) -> None:
        self._recorder = QueryRecorder()
        self._engine = ConversationManager(settings, dataclasses.replace(services, articles=self._recorder))
        self._store = store
        self._clock = clock
        self._finder = finder

    async def __call__(self, event: Event, opening: Conversation | None) -> None:
        """Prepares what handling `event` will search for; never raises (the turn goes on anyway)."""
        if not isinstance(event, CustomerMessage) or not self._finder.encodes_messages:
            return
        try:
            queries = await self._queries(event, opening)
            if queries:
                await asyncio.to_thread(self._finder.prepare, queries)
        except Exception:
            log.exception("rehearsing a customer message failed; its search will encode on the spot")

    async def _queries(self, event: CustomerMessage, opening: Conversation | None) -> list[str]:
        now = self._clock.now()
        events: list[Event] = [event]
        try:
            world, _ = await self._store.load_world(now=now, conversation_id=event.conversation_id, case_ids=[])
        except StoreError:  # its first message: the conversation is opened in the real turn
            if opening is None:
                return []
            world, _ = await self._store.load_world(now=now, conversation_id=None, case_ids=[])
            world.conversation = dataclasses.replace(opening)
            events = [ConversationStarted(opening.id), event]
        # no await from here on: the recorder is shared, and this fills and empties it in one go
        for each in events:
            self._engine.handle(each, world)
        queries, self._recorder.queries = self._recorder.queries, []
        return queries
