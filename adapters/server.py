"""The aiohttp application: mounts the adapters, serves /healthz and the OpenAPI document.

Resources (store, knowledge base, runtime loops) are opened and closed in one cleanup context,
so tests and `supportbot serve` build the same application with `create_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import (
    AsyncIterator,
    Callable,
    Collection,
    Coroutine,
    Mapping,
    Sequence,
)
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters import edge, metrics
from adapters.assist import AgentAssist, Articles
from adapters.auth.identity import StaffAuth
from adapters.auth.pages import SignInPages
from adapters.base import Adapter
from adapters.ratelimit import RateLimits
from adapters.slack_credentials import SlackCredentials
from adapters.webchat.console import AgentConsole
from adapters.webchat.customer import WebChat
from adapters.webchat.openapi import document
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.engine import ConversationManager
from bot.hours import BusinessCalendar
from bot.language import Cues
from bot.rehearsal import PreparesMessages, Rehearsal
from bot.runtime import Runtime
from bot.store.base import Store
from bot.store.sqlite import SQLiteStore
from bot.turn import ArticleSuggestion, Services
from knowledge.feedback import Learner, keep_learning

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "webchat" / "static"
ARTICLES = Path(__file__).resolve().parent.parent / "knowledge" / "articles"

RUNTIME = web.AppKey("runtime", Runtime)
SETTINGS = web.AppKey("settings", Settings)


def open_store(settings: Settings) -> Store:
    return SQLiteStore.from_url(
        settings.server.store, handle_time_window=settings.queue.handle_time_window, wal_max_bytes=settings.server.wal_max_bytes
    )


def load_knowledge(settings: Settings) -> Articles:
    from knowledge.index import (
        KnowledgeBase,  # spaCy and bm25s: imported by the loader thread
    )

    folder = Path(settings.knowledge.folder) if settings.knowledge.folder else ARTICLES
    encoder = None
    if settings.knowledge.embeddings:
        from knowledge.embeddings import EmbeddingsUnavailable, SentenceEncoder

        encoder = SentenceEncoder(settings.knowledge.embeddings_model)
        try:
            encoder.load()  # now, on the loader thread, rather than on the first search
        except EmbeddingsUnavailable as exc:
            # Customers still get the lexical ranking; the log says what to install.
            log.error("knowledge.embeddings is on but %s; ranking without embeddings", exc)
            encoder = None
    return KnowledgeBase.from_folder(folder, threshold=settings.knowledge.threshold, embeddings=encoder)


class KnowledgeLoader:
    """Builds the knowledge base on a thread, so the service answers /healthz while the index
    (spaCy's tables, the BM25 matrices) is still being built. The runtime holds the first events
    until it is ready (`ready`, awaited without blocking the event loop: pages, websockets and
    health checks go on being served). If building fails, nothing is offered and customers go to
    a person."""

    def __init__(self, load: Callable[[], Articles]) -> None:
        self._load = load
        self._finder: Articles | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._build, name="knowledge-loader", daemon=True).start()

    def _build(self) -> None:
        try:
            self._finder = self._load()
        except Exception:
            log.exception("the knowledge base could not be built; no articles will be offered")
        finally:
            self._ready.set()
        # what start-up built lives as long as the process: keep it out of the collector's full
        # passes, which otherwise pause every request for up to ~100 ms under load
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)  # requests make many short-lived objects and few cycles

    async def ready(self) -> None:
        if not self._ready.is_set():
            await asyncio.to_thread(self._ready.wait)

    def suggest(self, text: str, *, limit: int = 3) -> Sequence[ArticleSuggestion]:
        finder = self._built()
        return finder.suggest(text, limit=limit) if finder is not None else []

    def search(self, text: str, *, limit: int = 3, audiences: Collection[str] = ("customer",)) -> Sequence[Any]:
        """Agent assist's ranking (adapters/assist.py): no threshold, any audience."""
        finder = self._built()
        return finder.search(text, limit=limit, audiences=audiences) if finder is not None else []

    @property
    def encodes_messages(self) -> bool:
        """Unknown (so yes) until the knowledge base is built; then whether it has an encoder."""
        if not self._ready.is_set():
            return True
        return isinstance(self._finder, PreparesMessages) and self._finder.encodes_messages

    def prepare(self, texts: Sequence[str]) -> None:
        """Encodes messages ahead of their search when the knowledge base would (bot/rehearsal.py)."""
        finder = self._built()
        if isinstance(finder, PreparesMessages):
            finder.prepare(texts)

    def learn(self, questions: Mapping[str, Sequence[str]]) -> bool:
        """Learnt questions for the built knowledge base (knowledge/feedback.py); waits for it."""
        finder = self._built()
        return finder.learn(questions) if isinstance(finder, Learner) else False

    def _built(self) -> Articles | None:
        if not self._ready.is_set():  # only before `ready` was awaited (wait() locks even when set)
            self._ready.wait()
        return self._finder


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    articles: Articles | None = None,
    background: bool = True,
    slack: SlackCredentials | None = None,
) -> web.Application:
    """The whole service. `background=False` leaves timers and delivery to the caller (tests).

    Slack is mounted when `slack` credentials are given or SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET
    are set in the environment.
    """
    clock = clock or SystemClock()
    store = store or open_store(settings)
    finder = articles or KnowledgeLoader(lambda: load_knowledge(settings))
    services = Services(Cues(settings.language), finder, BusinessCalendar(settings.business_hours))
    assist = AgentAssist(finder)
    runtime = Runtime(
        engine=ConversationManager(settings, services),
        store=store,
        clock=clock,
        poll_interval=settings.server.timer_poll_interval,
        warm_up=finder.ready if isinstance(finder, KnowledgeLoader) else None,
        prepare=Rehearsal(settings, services, store, clock, finder) if settings.knowledge.embeddings and isinstance(finder, PreparesMessages) else None,
    )
    limits = RateLimits(settings.limits, clock)
    auth = StaffAuth(settings, store.accounts, clock, limits)
    app = web.Application(client_max_size=edge.MAX_BODY, middlewares=[edge.refusals, auth.middleware])
    app[RUNTIME] = runtime
    app[SETTINGS] = settings
    jobs: list[Callable[[], Coroutine[Any, Any, None]]] = [runtime.run_timers, runtime.run_dispatcher] if background else []
    if background and settings.knowledge.learn_every > 0 and isinstance(finder, Learner):
        learner, knowledge = finder, settings.knowledge
        jobs.append(
            lambda: keep_learning(
                lambda: runtime.store.records("offers"), learner, every=knowledge.learn_every, per_article=knowledge.learn_per_article
            )
        )
    app.cleanup_ctx.append(_lifecycle(runtime, jobs))  # first in, last out: adapters stop before the store
    adapters: list[Adapter] = [
        WebChat(runtime, limits, max_chars=settings.server.max_message_chars, too_long_spiel=settings.spiels.too_long),
        AgentConsole(runtime, settings, assist, auth, limits),
    ]
    SignInPages(settings, auth).setup(app)
    credentials = slack if slack is not None else SlackCredentials.from_environment()
    if credentials is not None:
        from adapters.slack import SlackAdapter

        adapters.append(SlackAdapter(runtime, settings, credentials, assist))
    for adapter in adapters:
        adapter.setup(app)
        runtime.attach(adapter)

    async def healthz(request: web.Request) -> web.Response:
        healthy = await runtime.store.ping()
        return web.json_response({"status": "ok" if healthy else "store unreachable"}, status=200 if healthy else 503)

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(document(settings.server.max_message_chars))

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / ("agent.html" if request.path.startswith("/agent") else "index.html"))

    app.router.add_get("/healthz", healthz)
    metrics.setup(app, runtime)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/", page)
    app.router.add_get("/agent", page)
    app.router.add_static("/static", STATIC)
    return app


def _lifecycle(runtime: Runtime, jobs: list[Callable[[], Coroutine[Any, Any, None]]]):  # type: ignore[no-untyped-def]
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await runtime.store.open()
        # in the background: the first turn waits for the knowledge base, start-up must not
        tasks = [asyncio.create_task(runtime.consoles_gone()), *(asyncio.create_task(job()) for job in jobs)]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runtime.store.close()

    return lifecycle
