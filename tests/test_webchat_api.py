"""The web chat HTTP API and websocket, through the real aiohttp application."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.server import RUNTIME, KnowledgeLoader, create_app
from bot.clock import FakeClock
from bot.runtime import Runtime
from bot.store.sqlite import SQLiteStore
from tests.harness import DEFAULT_ARTICLES, KeywordFinder, desk_settings
from tests.staff import bearer

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
FULL_DETAILS = "user ID 48213, Chrome, ann@school.org, the error says 'Invalid password', steps: I typed it twice"


def make_app(tmp_path: Path, *, background: bool) -> web.Application:
    """The real application on a fake clock; `background` runs the outbox dispatcher as in production."""
    return create_app(
        desk_settings(),
        clock=FakeClock(),
        store=SQLiteStore(tmp_path / "api.db"),
        articles=KeywordFinder(dict(DEFAULT_ARTICLES)),
        background=background,
    )


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: AiohttpClient) -> AsyncIterator[TestClient[Any, Any]]:
    yield await aiohttp_client(make_app(tmp_path, background=False))


@pytest.fixture
async def live(tmp_path: Path, aiohttp_client: AiohttpClient) -> AsyncIterator[TestClient[Any, Any]]:
    yield await aiohttp_client(make_app(tmp_path, background=True))


def runtime_of(client: TestClient[Any, Any]) -> Runtime:
    return client.app[RUNTIME]


async def open_conversation(client: TestClient[Any, Any]) -> tuple[str, dict[str, str]]:
    response = await client.post("/api/conversations", json={})
    assert response.status == 201
    body = await response.json()
    assert set(body) == {"id", "token"}
    return body["id"], {"Authorization": f"Bearer {body['token']}"}


async def messages(client: TestClient[Any, Any], cid: str, auth: dict[str, str], after: int = 0) -> list[dict[str, Any]]:
    response = await client.get(f"/api/conversations/{cid}/messages", params={"after": after}, headers=auth)
    assert response.status == 200
    result: list[dict[str, Any]] = (await response.json())["messages"]
    return result


async def until(measure: Callable[[], Awaitable[int]], wanted: int) -> None:
    """Waits (briefly, on real time) for the server to process frames sent over a websocket."""
    for _ in range(500):
        if await measure() >= wanted:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never reached {wanted}")


async def test_conversation_greets_and_runs_to_an_article_offer(client: TestClient[Any, Any]) -> None:
    cid, auth = await open_conversation(client)
    greeting = await messages(client, cid, auth)
    assert [m["from"] for m in greeting] == ["bot"]
    assert set(greeting[0]) >= {"seq", "from", "text", "buttons", "at"}

    response = await client.post(f"/api/conversations/{cid}/messages", json={"text": f"I forgot my password. {FULL_DETAILS}"}, headers=auth)
    assert response.status == 202
    after = await messages(client, cid, auth, after=greeting[-1]["seq"])
    assert after[0]["from"] == "customer"
    assert after[1]["from"] == "bot" and "CS-000001" in after[1]["text"]
    offer = after[-1]
    assert "Reset a forgotten password" in offer["text"]
    labels = [b["label"] for b in offer["buttons"]]
    assert labels == ["This solved it", "I still need help"]

    solved = offer["buttons"][0]
    response = await client.post(
        f"/api/conversations/{cid}/messages", json={"action": {"id": solved["id"], "value": solved["value"]}}, headers=auth
    )
    assert response.status == 202
    latest = await messages(client, cid, auth, after=offer["seq"])
    assert latest[0] == {**latest[0], "from": "customer", "text": "This solved it"}
    assert any("resolved" in m["text"] for m in latest)
    assert [b["label"] for b in latest[-1]["buttons"]] == ["1", "2", "3", "4", "5"]


async def test_a_token_opens_only_its_own_conversation(client: TestClient[Any, Any]) -> None:
    first, first_auth = await open_conversation(client)
    second, _ = await open_conversation(client)
    path = f"/api/conversations/{second}/messages"
    assert (await client.get(path)).status == 401
    assert (await client.get(path, headers={"Authorization": "Basic abc"})).status == 401
    wrong = await client.get(path, headers=first_auth)
    assert wrong.status == 401
    assert "error" in await wrong.json()
    assert (await client.post(path, json={"text": "hi"}, headers=first_auth)).status == 401
    assert (await client.get("/api/conversations/nope/messages", headers=first_auth)).status == 404
    assert (await client.get(f"/api/conversations/{first}/messages", headers=first_auth)).status == 200


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"not json", 400, "JSON"),
        (b"[1, 2]", 400, "object"),
        (b'{"text": 5}', 400, "text"),
        (b'{"action": "x"}', 400, "action"),
        (b'{"action": {"id": 1}}', 400, "action"),
        (b'{"nothing": true}', 400, "text"),
    ],
)
async def test_malformed_bodies_get_a_clear_error(client: TestClient[Any, Any], body: bytes, status: int, fragment: str) -> None:
    cid, auth = await open_conversation(client)
    response = await client.post(f"/api/conversations/{cid}/messages", data=body, headers={**auth, "Content-Type": "application/json"})
    assert response.status == status
    assert fragment in (await response.json())["error"]
    assert len(await messages(client, cid, auth)) == 1


async def test_oversized_text_is_refused_and_nothing_is_stored(client: TestClient[Any, Any]) -> None:
    cid, auth = await open_conversation(client)
    for text in ("x" * 4001, "😀" * 25_000):  # the second is 100 kB of emoji
        response = await client.post(f"/api/conversations/{cid}/messages", json={"text": text}, headers=auth)
        assert response.status == 413
        assert "limit is 4000" in (await response.json())["error"]
    assert len(await messages(client, cid, auth)) == 1
    assert (await client.post(f"/api/conversations/{cid}/messages", json={"text": "x" * 4000}, headers=auth)).status == 202


async def test_empty_messages_are_ignored(client: TestClient[Any, Any]) -> None:
    cid, auth = await open_conversation(client)
    for text in ("", "   ", "\n\t "):
        response = await client.post(f"/api/conversations/{cid}/messages", json={"text": text}, headers=auth)
        assert response.status == 202
        assert (await response.json())["status"] == "ignored"
    assert len(await messages(client, cid, auth)) == 1


async def test_hostile_text_is_stored_as_text_without_control_characters(client: TestClient[Any, Any]) -> None:
    cid, auth = await open_conversation(client)
    hostile = '<script>alert(1)</script>\x00\x07\u202e <img src=x onerror="alert(2)"> ' + "🙂" * 2000
    assert (await client.post(f"/api/conversations/{cid}/messages", json={"text": hostile}, headers=auth)).status == 202
    stored = [m for m in await messages(client, cid, auth) if m["from"] == "customer"][0]["text"]
    assert stored.startswith("<script>alert(1)</script> <img")
    assert "\x00" not in stored and "\x07" not in stored and "\u202e" not in stored


async def test_joiners_that_emoji_and_scripts_need_are_kept(client: TestClient[Any, Any]) -> None:
    cid, auth = await open_conversation(client)
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467"  # one emoji, joined by zero-width joiners
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want", with a zero-width non-joiner
    text = f"{persian} {family} \u200bhidden\u2066isolated\u2069"
    assert (await client.post(f"/api/conversations/{cid}/messages", json={"text": text}, headers=auth)).status == 202
    stored = [m for m in await messages(client, cid, auth) if m["from"] == "customer"][0]["text"]
    assert stored == f"{persian} {family} hiddenisolated"


async def test_unknown_commands_get_help(client: TestClient[Any, Any]) -> None:
    cid, auth = await open_conversation(client)
    await client.post(f"/api/conversations/{cid}/messages", json={"text": "/frobnicate"}, headers=auth)
    assert "Commands: /new" in (await messages(client, cid, auth))[-1]["text"]


async def test_unknown_and_stale_buttons_are_answered_not_fatal(client: TestClient[Any, Any]) -> None:
    cid, auth = await open_conversation(client)
    for action in ({"id": "article.solved", "value": "999:reset-password"}, {"id": "weird", "value": "x"}):
        response = await client.post(f"/api/conversations/{cid}/messages", json={"action": action}, headers=auth)
        assert response.status == 202
        assert "earlier step" in (await messages(client, cid, auth))[-1]["text"]


async def test_websocket_resumes_history_and_survives_bad_frames(client: TestClient[Any, Any]) -> None:
    cid, auth = await open_conversation(client)
    token = auth["Authorization"].removeprefix("Bearer ")
    assert (await client.get(f"/api/conversations/{cid}/ws", params={"token": "wrong"})).status == 401
    async with client.ws_connect(f"/api/conversations/{cid}/ws", params={"token": token}) as socket:
        await socket.send_str("{not json")
        assert (await socket.receive_json(timeout=5))["type"] == "error"
        await socket.send_str('"just a string"')
        assert (await socket.receive_json(timeout=5))["type"] == "error"
        await socket.send_json({"type": "dance"})
        assert "Unknown frame type" in (await socket.receive_json(timeout=5))["error"]
        await socket.send_bytes(b"\x00\x01")
        assert (await socket.receive_json(timeout=5))["type"] == "error"
        await socket.send_json({"type": "message", "text": "y" * 5000})
        assert "too long" in (await socket.receive_json(timeout=5))["error"]
        await socket.send_json({"type": "resume", "after": 0})
        first = await socket.receive_json(timeout=5)
        assert first["type"] == "message" and first["message"]["seq"] == 1

        await socket.send_json({"type": "message", "text": "I can't export my report"})
        # pushed live as soon as they are committed: no outbox round trip for a web page's view
        pushed = [(await socket.receive_json(timeout=5))["message"] for _ in range(3)]
        assert [(p["seq"], p["from"]) for p in pushed] == [(2, "customer"), (3, "bot"), (4, "bot")]
        assert "CS-000001" in pushed[1]["text"]
        assert not socket.closed

    async with client.ws_connect(f"/api/conversations/{cid}/ws", params={"token": token}) as again:
        await again.send_json({"type": "resume", "after": 1})
        resumed = await again.receive_json(timeout=5)
        assert resumed["message"]["seq"] == 2
        assert resumed["message"]["from"] == "customer"


async def test_health_and_openapi(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/healthz")).status == 200
    spec = await (await client.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/conversations", "/api/conversations/{id}/messages"} <= set(spec["paths"])
    assert set(spec["components"]["schemas"]["Message"]["properties"]) >= {"seq", "from", "text", "buttons", "at"}
    for page in ("/", "/agent", "/static/chat.js", "/static/agent.js"):
        assert (await client.get(page)).status == 200


async def test_health_fails_when_the_store_is_gone(client: TestClient[Any, Any]) -> None:
    await runtime_of(client).store.close()
    response = await client.get("/healthz")
    assert response.status == 503


async def _console_frames(socket: Any, wanted: str, count: int = 20) -> dict[str, Any]:
    for _ in range(count):
        frame = await socket.receive_json(timeout=5)
        if frame["type"] == wanted:
            result: dict[str, Any] = frame
            return result
    raise AssertionError(f"no {wanted} frame")


async def test_agent_console_accepts_and_chats_and_notes_stay_internal(live: TestClient[Any, Any]) -> None:
    runtime = runtime_of(live)
    ana, tara = await bearer(runtime.store, "ana"), await bearer(runtime.store, "tara")
    roster = await (await live.get("/api/agent/roster", headers=ana)).json()
    assert {"id": "ana", "name": "Ana", "role": "agent"} in roster["staff"]

    async with live.ws_connect("/api/agent/ws", headers=ana) as agent:
        state = await _console_frames(agent, "state")
        assert state["me"]["online"] is True and state["me"]["capacity"] == 3
        await agent.send_json({"type": "command", "command": "status", "text": "available"})
        assert "available" in (await _console_frames(agent, "notice"))["text"]

        cid, auth = await open_conversation(live)
        await live.post(f"/api/conversations/{cid}/messages", json={"text": f"My CSV export is broken. {FULL_DETAILS}"}, headers=auth)
        offer = (await messages(live, cid, auth))[-1]
        more = next(b for b in offer["buttons"] if b["label"] == "I still need help")
        await live.post(f"/api/conversations/{cid}/messages", json={"action": {"id": more["id"], "value": more["value"]}}, headers=auth)
        assert "New chat waiting: CS-000001" in (await _console_frames(agent, "notice"))["text"]
        state = await _console_frames(agent, "state")
        waiting = state["waiting"]
        assert [w["number"] for w in waiting] == ["CS-000001"]
        assert "a***@school.org" in waiting[0]["details"]["email"]

        case_id = waiting[0]["id"]
        await agent.send_json("nonsense")
        assert (await _console_frames(agent, "error"))["type"] == "error"
        await agent.send_json({"type": "command", "command": "accept", "case_id": case_id})
        await agent.send_json({"type": "command", "command": "say", "case_id": case_id, "text": "Hi, Ana here. Checking now."})
        await agent.send_json({"type": "command", "command": "note", "case_id": case_id, "text": "Customer on old plan #billing", "tags": ["export"]})
        await agent.send_json({"type": "command", "command": "say", "case_id": case_id, "text": "/note second note, typed"})
        await agent.send_json({"type": "command", "command": "say", "case_id": case_id, "text": "/bogus"})
        assert "Unknown command" in (await _console_frames(agent, "notice"))["text"]

        customer_view = await messages(live, cid, auth)
        texts = [m["text"] for m in customer_view]
        assert "Ana has joined the chat and will help you from here." in texts
        agent_line = next(m for m in customer_view if m["from"] == "agent")
        assert agent_line["name"] == "Ana" and agent_line["text"] == "Hi, Ana here. Checking now."
        assert not any("old plan" in t or "second note" in t or "bogus" in t for t in texts)

        detail = await (await live.get(f"/api/agent/cases/{case_id}", headers=ana)).json()
        assert [(n["text"], n["tags"]) for n in detail["notes"]] == [
            ("Customer on old plan #billing", ["export", "billing"]),
            ("second note, typed", []),
        ]
        assert "ann@school.org" not in json.dumps(detail)
        tier2 = await (await live.get(f"/api/agent/cases/{case_id}", headers=tara)).json()
        assert tier2["case"]["details"]["email"] == "ann@school.org"

    async def offline() -> int:
        return sum(1 for a in await runtime.store.agents() if a.id == "ana" and not a.online)

    await until(offline, 1)  # closing the last console connection takes Ana offline


async def test_console_rejects_malformed_commands(live: TestClient[Any, Any]) -> None:
    ana = await bearer(runtime_of(live).store, "ana")
    async with live.ws_connect("/api/agent/ws", headers=ana) as agent:
        await _console_frames(agent, "state")
        for bad in (
            {"type": "command"},
            {"type": "command", "command": "say", "case_id": "one"},
            {"type": "command", "command": "note", "case_id": 1, "tags": "x"},
            {"type": "command", "command": "say", "case_id": 1, "text": "z" * 4001},
        ):
            await agent.send_json(bad)
            assert (await _console_frames(agent, "error"))["error"]
        await agent.send_str("{")
        assert "not valid JSON" in (await _console_frames(agent, "error"))["error"]
        assert not agent.closed
    assert (await live.get("/api/agent/cases/abc", headers=ana)).status == 400
    assert (await live.get("/api/agent/cases/99", headers=ana)).status == 404


async def test_the_service_keeps_answering_while_the_article_index_builds(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    """Conversations wait for the index without blocking the event loop: health checks answer."""
    built = threading.Event()

    def slow_build() -> KeywordFinder:
        built.wait(10)
        return KeywordFinder(dict(DEFAULT_ARTICLES))

    app = create_app(desk_settings(), clock=FakeClock(), store=SQLiteStore(tmp_path / "slow.db"), articles=KnowledgeLoader(slow_build), background=False)
    client = await aiohttp_client(app)
    opening = asyncio.ensure_future(client.post("/api/conversations", json={}))
    await asyncio.sleep(0.2)
    assert not opening.done()  # held until the index is ready

    started = time.monotonic()
    assert (await client.get("/healthz")).status == 200
    assert time.monotonic() - started < 1.0

    built.set()
    response = await asyncio.wait_for(opening, 10)
    assert response.status == 201
