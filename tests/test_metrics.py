"""GET /metrics: counts of what the service holds and has done, and never a customer's words."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.server import RUNTIME, create_app
from bot.clock import FakeClock
from bot.store.sqlite import SQLiteStore
from tests.harness import DEFAULT_ARTICLES, KeywordFinder, desk_settings
from tests.metrics_scrape import sample, scrape
from tests.staff import bearer

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


async def test_metrics_count_events_cases_and_the_outbox_without_personal_data(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    app = create_app(desk_settings(), clock=FakeClock(), store=SQLiteStore(tmp_path / "m.db"),
                     articles=KeywordFinder(dict(DEFAULT_ARTICLES)), background=False)
    client = await aiohttp_client(app)
    assert (await client.get("/metrics")).status == 401  # staff only: a token, as Prometheus can send
    before = await scrape(client)
    assert sample(before, "supportbot_cases", state="new") == 0 and sample(before, "supportbot_outbox_pending") == 0

    opened = await (await client.post("/api/conversations", json={})).json()
    auth = {"Authorization": f"Bearer {opened['token']}"}
    said = await client.post(f"/api/conversations/{opened['id']}/messages", headers=auth,
                             json={"text": "I forgot my password, my email is ann@school.org"})
    assert said.status == 202

    after = await scrape(client)
    assert sample(after, "supportbot_events_total", type="ConversationStarted") == 1
    assert sample(after, "supportbot_events_total", type="CustomerMessage") == 1
    assert sum(v for (name, _), v in after.items() if name == "supportbot_cases") == 1  # one open case, whatever its state
    assert sample(after, "supportbot_agents_online") == 0
    assert sample(after, "supportbot_inbox_pending", source="web") == 0
    body = await (await client.get("/metrics", headers=await bearer(app[RUNTIME].store, "ana"))).text()
    assert "ann@school.org" not in body and "password" not in body
