"""Rate limits (adapters/ratelimit.py): token buckets on the fake clock, who the client is behind a
proxy, and 429s with Retry-After through the real application. Time moves only when told to."""

from __future__ import annotations

import ipaddress
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.ratelimit import TokenBuckets, client_address
from adapters.server import RUNTIME, create_app
from bot.clock import FakeClock
from adapters.settings import load_settings
from bot.config import ConfigError, LimitSettings
from bot.store.sqlite import SQLiteStore
from tests.harness import DEFAULT_ARTICLES, KeywordFinder, desk_settings
from tests.staff import bearer

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
PROXY = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")]


# ----- token buckets ------------------------------------------------------------------------------------


def test_a_key_takes_its_burst_then_waits_for_the_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(2.0, 3, clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token comes back every half second
    assert buckets.take("b") == 0.0  # keys are independent
    clock.advance(0.25)
    assert buckets.take("a") == pytest.approx(0.25)
    clock.advance(0.25)
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(0.5)
    clock.advance(3600)
    assert [buckets.take("a") for _ in range(4)][-2:] == [0.0, pytest.approx(0.5)]  # refilled to the burst, no more


def test_a_clock_that_steps_back_mints_no_tokens() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(1.0, 1, clock)
    assert buckets.take("a") == 0.0
    clock.set(clock.now() - 60)
    assert buckets.take("a") == pytest.approx(1.0)


def test_refilled_buckets_are_forgotten_and_the_table_is_capped() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(10.0, 5, clock, max_keys=1000)
    for n in range(500):
        buckets.take(f"client-{n}")
    assert len(buckets) == 500
    clock.advance(0.5)  # a full refill: every bucket is as good as new
    buckets.take("late")
    assert len(buckets) == 1
    for n in range(5000):  # a flood of distinct keys within one refill period
        buckets.take(f"flood-{n}")
    assert len(buckets) == 1000


# ----- who the client is -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("203.0.113.9", [], [], "203.0.113.9"),
        ("203.0.113.9", ["198.51.100.1"], [], "203.0.113.9"),  # nobody trusted: the header is the client's word
        ("203.0.113.9", ["198.51.100.1"], PROXY, "203.0.113.9"),  # the peer is not a trusted proxy
        ("10.0.0.2", ["198.51.100.1"], PROXY, "198.51.100.1"),
        ("10.0.0.2", ["1.2.3.4, 198.51.100.1"], PROXY, "198.51.100.1"),  # the client's own entry to the left is ignored
        ("10.0.0.2", ["198.51.100.1, 10.0.0.7"], PROXY, "198.51.100.1"),  # through two proxies
        ("10.0.0.2", ["1.2.3.4", "198.51.100.1"], PROXY, "198.51.100.1"),  # two header lines are one list
        ("10.0.0.2", ["10.0.0.5, 10.0.0.7"], PROXY, "10.0.0.5"),  # all trusted: the left-most
        ("10.0.0.2", ["198.51.100.1, junk"], PROXY, "10.0.0.2"),  # not an address: stop at the last trusted hop
        ("10.0.0.2", [], PROXY, "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1:50123"], PROXY, "198.51.100.1"),  # a proxy that writes the port
        ("10.0.0.2", ["[2001:db8::1]:443"], PROXY, "2001:db8::/64"),
        ("2001:db8:0:1::5", [], [], "2001:db8:0:1::/64"),  # IPv6: one subscriber holds a whole /64
        ("::ffff:203.0.113.9", [], [], "203.0.113.9"),
        (None, [], [], "unknown"),
    ],
)
def test_the_client_address(peer: str | None, forwarded: list[str], trusted: list[Any], client: str) -> None:
    assert client_address(peer, forwarded, trusted) == client


def test_limits_are_checked_at_start_up() -> None:
    assert load_settings(environ={"SUPPORTBOT_LIMITS__ADDRESS_RATE": "0", "SUPPORTBOT_LIMITS__TRUSTED_PROXIES": '["10.0.0.0/8"]'}).limits == LimitSettings(
        address_rate=0.0, trusted_proxies=("10.0.0.0/8",)
    )
    with pytest.raises(ConfigError, match="limits.trusted_proxies: 'proxy.local' is not an IP address or network"):
        load_settings(environ={"SUPPORTBOT_LIMITS__TRUSTED_PROXIES": '["proxy.local"]'})
    with pytest.raises(ConfigError, match="limits.staff_rate/staff_burst"):
        load_settings(environ={"SUPPORTBOT_LIMITS__STAFF_BURST": "0"})
    with pytest.raises(ConfigError, match="limits.address_rate/address_burst"):
        load_settings(environ={"SUPPORTBOT_LIMITS__ADDRESS_RATE": "-1"})


# ----- through the application ---------------------------------------------------------------------------


class Desk:
    def __init__(self, client: TestClient[Any, Any], clock: FakeClock, db: Path) -> None:
        self.client, self.clock, self.db = client, clock, db

    def conversations(self) -> int:
        with sqlite3.connect(self.db) as db:
            count: int = db.execute("SELECT count(*) FROM conversations").fetchone()[0]
            return count

    async def open(self, **headers: str) -> tuple[str, dict[str, str]]:
        response = await self.client.post("/api/conversations", json={}, headers=headers)
        assert response.status == 201
        body = await response.json()
        return body["id"], {"Authorization": f"Bearer {body['token']}", **headers}


async def limited(tmp_path: Path, aiohttp_client: AiohttpClient, **limits: Any) -> Desk:
    """The application with these `[limits]`; refusals answered at once unless `refusal_delay` is given."""
    clock = FakeClock()
    app = create_app(
        desk_settings(limits={"refusal_delay": "0s", **limits}, business_hours={"open": "00:00", "close": "24:00"}),
        clock=clock,
        store=SQLiteStore(tmp_path / "limits.db"),
        articles=KeywordFinder(dict(DEFAULT_ARTICLES)),
        background=False,
    )
    return Desk(await aiohttp_client(app), clock, tmp_path / "limits.db")


async def assert_429(response: Any, retry_after: int, whose: str) -> None:
    assert response.status == 429
    assert response.headers["Retry-After"] == str(retry_after)
    body = await response.json()
    assert body["retry_after"] == retry_after and whose in body["error"]


async def test_an_address_over_its_limit_gets_429_with_retry_after_and_nothing_is_stored(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    desk = await limited(tmp_path, aiohttp_client, address_rate=0.5, address_burst=3)
    cid, auth = await desk.open()
    assert (await desk.client.get(f"/api/conversations/{cid}/messages", headers=auth)).status == 200
    assert (await desk.client.post(f"/api/conversations/{cid}/messages", json={"text": "hi"}, headers=auth)).status == 202
    stored = desk.conversations()
    await assert_429(await desk.client.post("/api/conversations", json={}), 2, "from your network address")
    await assert_429(await desk.client.get(f"/api/conversations/{cid}/messages", headers=auth), 2, "from your network address")
    await assert_429(await desk.client.get(f"/api/conversations/{cid}/ws", params={"token": auth["Authorization"][7:]}), 2, "address")
    assert desk.conversations() == stored
    desk.clock.advance(2)  # one token back
    await desk.open()
    await assert_429(await desk.client.post("/api/conversations", json={}), 2, "address")


async def test_one_conversation_cannot_flood_the_bot_and_reading_is_not_counted_against_it(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    desk = await limited(tmp_path, aiohttp_client, conversation_rate=0.1, conversation_burst=2)
    cid, auth = await desk.open()
    path = f"/api/conversations/{cid}/messages"
    for text in ("hi", "my password", "   "):  # the empty one is ignored and not counted
        assert (await desk.client.post(path, json={"text": text}, headers=auth)).status == 202
    before = len((await (await desk.client.get(path, headers=auth)).json())["messages"])
    await assert_429(await desk.client.post(path, json={"text": "again"}, headers=auth), 10, "in this conversation")
    for _ in range(30):
        assert (await desk.client.get(path, headers=auth)).status == 200
    assert len((await (await desk.client.get(path, headers=auth)).json())["messages"]) == before  # nothing stored
    other, other_auth = await desk.open()  # the same address, another conversation: its own allowance
    assert (await desk.client.post(f"/api/conversations/{other}/messages", json={"text": "hi"}, headers=other_auth)).status == 202
    wrong = {"Authorization": "Bearer not-the-token"}
    for _ in range(5):  # without the token nobody uses up a conversation's allowance
        assert (await desk.client.post(f"/api/conversations/{other}/messages", json={"text": "x"}, headers=wrong)).status == 401
    assert (await desk.client.post(f"/api/conversations/{other}/messages", json={"text": "again"}, headers=other_auth)).status == 202


async def test_a_socket_over_the_limit_gets_an_error_frame_with_a_retry_hint_and_stays_open(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    # the address's five tokens: the conversation opened, the socket, then three frames
    desk = await limited(tmp_path, aiohttp_client, address_rate=1, address_burst=5, conversation_rate=0.5, conversation_burst=1)
    cid, auth = await desk.open()
    async with desk.client.ws_connect(f"/api/conversations/{cid}/ws", params={"token": auth["Authorization"][7:]}) as socket:
        await socket.send_json({"type": "message", "text": "hi"})
        for _ in range(3):  # the message, the case number and the intake question
            assert (await socket.receive_json(timeout=5))["type"] == "message"
        await socket.send_json({"type": "message", "text": "more"})
        assert await socket.receive_json(timeout=5) == {
            "type": "error", "error": "Too many requests in this conversation; please wait a moment and try again.", "retry_after": 2,
        }
        await socket.send_json({"type": "resume", "after": 0})  # reading is not the conversation's: answered
        assert (await socket.receive_json(timeout=5))["message"]["seq"] == 1
        while (await socket.receive_json(timeout=5))["message"]["seq"] < 4:
            pass
        await socket.send_json({"type": "typing"})
        assert (await socket.receive_json(timeout=5))["retry_after"] == 1  # now the address's limit
        assert not socket.closed
        desk.clock.advance(2)
        await socket.send_json({"type": "message", "text": "my password"})
        assert (await socket.receive_json(timeout=5))["message"]["text"] == "my password"


async def test_staff_are_limited_per_token(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    desk = await limited(tmp_path, aiohttp_client, staff_rate=0.2, staff_burst=3)
    store = desk.client.app[RUNTIME].store
    ana, tara = await bearer(store, "ana"), await bearer(store, "tara")
    assert (await desk.client.get("/api/agent/cases/1", headers=ana)).status == 404
    assert (await desk.client.get("/api/agent/articles", params={"q": "password"}, headers=ana)).status == 200
    async with desk.client.ws_connect("/api/agent/ws", headers=ana) as socket:  # the third
        assert (await socket.receive_json(timeout=5))["type"] == "state"
        await socket.send_json({"type": "command", "command": "status", "text": "available"})
        frame = await socket.receive_json(timeout=5)
        assert frame["type"] == "error" and frame["retry_after"] == 5 and "for this staff member" in frame["error"]
        assert not socket.closed
        await assert_429(await desk.client.get("/api/agent/cases/1", headers=ana), 5, "for this staff member")
        await assert_429(await desk.client.get("/api/agent/ws", headers=ana), 5, "staff member")
        assert (await desk.client.get("/api/agent/cases/1", headers=tara)).status == 404  # another token
        desk.clock.advance(5)
        await socket.send_json({"type": "command", "command": "status", "text": "available"})
        while (frame := await socket.receive_json(timeout=5))["type"] != "notice":
            assert frame["type"] == "state"
        assert "available" in frame["text"]


async def test_behind_a_trusted_proxy_each_client_has_its_own_limit(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    desk = await limited(tmp_path, aiohttp_client, address_rate=0.1, address_burst=2, trusted_proxies=["127.0.0.1"])
    flooder = {"X-Forwarded-For": "198.51.100.7"}
    await desk.open(**flooder)
    await desk.open(**flooder)
    await assert_429(await desk.client.post("/api/conversations", json={}, headers=flooder), 10, "address")
    spoofed = {"X-Forwarded-For": "192.0.2.1, 198.51.100.7"}  # a made-up entry on the left changes nothing
    await assert_429(await desk.client.post("/api/conversations", json={}, headers=spoofed), 10, "address")
    victim, auth = await desk.open(**{"X-Forwarded-For": "203.0.113.20"})
    assert (await desk.client.post(f"/api/conversations/{victim}/messages", json={"text": "hi"}, headers=auth)).status == 202


async def test_refusals_are_answered_after_a_delay_that_keeps_a_waiting_client_slow(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    """Real seconds (half of one): the delay is what stops a client that waits for each answer
    from keeping the server busy with refusals (bench/flood_bench.py)."""
    desk = await limited(tmp_path, aiohttp_client, address_rate=0.4, address_burst=2, refusal_delay="0.5s")
    cid, auth = await desk.open()
    started = time.monotonic()
    response = await desk.client.get(f"/api/conversations/{cid}/messages", headers=auth)
    assert response.status == 200 and time.monotonic() - started < 0.5
    started = time.monotonic()
    await assert_429(await desk.client.post("/api/conversations", json={}), 2, "address")  # 2.5 s to wait, 0.5 of them spent
    assert time.monotonic() - started >= 0.5
    desk.clock.advance(2.5)  # one token back, which the socket takes: its first frame is over the limit
    async with desk.client.ws_connect(f"/api/conversations/{cid}/ws", params={"token": auth["Authorization"][7:]}) as socket:
        started = time.monotonic()
        await socket.send_json({"type": "typing"})
        assert (await socket.receive_json(timeout=5))["retry_after"] == 2
        assert time.monotonic() - started >= 0.5 and not socket.closed


async def test_a_rate_of_zero_turns_a_limit_off(tmp_path: Path, aiohttp_client: AiohttpClient) -> None:
    desk = await limited(tmp_path, aiohttp_client, address_rate=0, conversation_rate=0, staff_rate=0)
    cid, auth = await desk.open()
    for n in range(40):
        assert (await desk.client.post(f"/api/conversations/{cid}/messages", json={"text": f"note {n}"}, headers=auth)).status == 202
    ana = await bearer(desk.client.app[RUNTIME].store, "ana")
    for _ in range(40):
        assert (await desk.client.get("/api/agent/cases/1", headers=ana)).status == 200
