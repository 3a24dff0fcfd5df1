"""With a sentence encoder, a customer's words are encoded on a worker thread before their turn."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.server import create_app
from bot.clock import FakeClock
from bot.domain import Conversation
from bot.events import CustomerMessage
from bot.rehearsal import Rehearsal
from bot.store.sqlite import SQLiteStore
from tests.harness import DEFAULT_ARTICLES, KeywordFinder, desk_settings
from tests.test_knowledge_embeddings import ARTICLES, WordHashEncoder
from tests.test_webchat_api import FULL_DETAILS

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


class ThreadNotingEncoder(WordHashEncoder):
    """Notes which thread encoded each text (the article index is encoded before `watching`)."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[tuple[str, bool]] = []
        self.watching = False

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if self.watching:
            self.threads += [(t, threading.current_thread() is threading.main_thread()) for t in texts]
        return super().encode(texts)


async def test_the_search_of_a_turn_never_encodes_on_the_event_loop(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    from knowledge.index import KnowledgeBase

    encoder = ThreadNotingEncoder()
    kb = KnowledgeBase(ARTICLES, embeddings=encoder)
    encoder.watching = True
    settings = desk_settings(knowledge={"embeddings": True})
    client = await aiohttp_client(create_app(settings, clock=FakeClock(), store=SQLiteStore(tmp_path / "r.db"), articles=kb, background=False))
    opened = await (await client.post("/api/conversations", json={})).json()
    auth = {"Authorization": f"Bearer {opened['token']}"}

    sent = await client.post(f"/api/conversations/{opened['id']}/messages", json={"text": f"I forgot my password. {FULL_DETAILS}"}, headers=auth)

    assert sent.status == 202
    transcript = await (await client.get(f"/api/conversations/{opened['id']}/messages", headers=auth)).json()
    assert "Reset a forgotten password" in str(transcript)  # the real turn searched, with the vector
    assert encoder.threads and not any(on_loop for _, on_loop in encoder.threads)  # encoded on a worker thread only


async def test_a_first_message_is_rehearsed_on_the_conversation_it_opens(tmp_path: Path) -> None:
    from bot.hours import BusinessCalendar
    from bot.language import Cues
    from bot.turn import Services

    prepared: list[str] = []

    class Noting:
        encodes_messages = True

        def prepare(self, texts: Sequence[str]) -> None:
            prepared.extend(texts)

    settings = desk_settings()
    store = SQLiteStore(tmp_path / "r.db")
    await store.open()
    try:
        services = Services(Cues(settings.language), KeywordFinder(dict(DEFAULT_ARTICLES)), BusinessCalendar(settings.business_hours))
        rehearse = Rehearsal(settings, services, store, FakeClock(), Noting())
        opening = Conversation("slack:D1", "slack", created_at=0.0)
        await rehearse(CustomerMessage(opening.id, f"I forgot my password. {FULL_DETAILS}"), opening)
        assert await store.conversation(opening.id) is None  # a rehearsal only reads
    finally:
        await store.close()

    assert prepared == ["I forgot my password. Invalid password"]  # what the real turn will search


async def test_nothing_is_rehearsed_when_searches_encode_nothing(tmp_path: Path) -> None:
    """The extra failed to load (no encoder): a rehearsal would be work for nothing."""
    from knowledge.index import KnowledgeBase

    from bot.hours import BusinessCalendar
    from bot.language import Cues
    from bot.turn import Services

    kb = KnowledgeBase(ARTICLES)
    store = SQLiteStore(tmp_path / "r.db")
    await store.open()
    loads = store.load_world
    calls: list[Any] = []

    async def counting_load(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return await loads(**kwargs)

    store.load_world = counting_load  # type: ignore[method-assign]
    try:
        settings = desk_settings()
        rehearse = Rehearsal(settings, Services(Cues(settings.language), kb, BusinessCalendar(settings.business_hours)), store, FakeClock(), kb)
        await rehearse(CustomerMessage("web:x", "I forgot my password"), None)
    finally:
        await store.close()

    assert kb.encodes_messages is False and calls == []


async def test_a_slow_preparation_never_lets_a_later_message_of_the_conversation_overtake(tmp_path: Path) -> None:
    """Preparations run off the loop and may finish out of order; a conversation's turns may not."""
    from bot.engine import ConversationManager
    from bot.hours import BusinessCalendar
    from bot.language import Cues
    from bot.runtime import Runtime
    from bot.turn import Services

    settings = desk_settings()
    store = SQLiteStore(tmp_path / "o.db")
    await store.open()
    delays = {"My export is broken": 0.2, "Chrome": 0.0}

    async def prepare(event: Any, opening: Conversation | None) -> None:
        await asyncio.sleep(delays.get(getattr(event, "text", ""), 0.0))  # the first message's encode is the slow one

    services = Services(Cues(settings.language), KeywordFinder(dict(DEFAULT_ARTICLES)), BusinessCalendar(settings.business_hours))
    runtime = Runtime(engine=ConversationManager(settings, services), store=store, clock=FakeClock(), prepare=prepare)
    try:
        opening = Conversation("web:order", "web", created_at=0.0)
        await runtime.open_conversation(opening, secret_hash="x")
        await asyncio.gather(runtime.handle(CustomerMessage(opening.id, "My export is broken")),
                             runtime.handle(CustomerMessage(opening.id, "Chrome")))
        said = [e.text for e in await store.transcript(opening.id) if e.sender == "customer"]
        case = await store.case(1)
    finally:
        await store.close()

    assert said == ["My export is broken", "Chrome"]
    assert case is not None and case.problem == "My export is broken"  # not "Chrome"
    assert len(runtime._in_order) == 0  # no lock is kept once nobody waits
