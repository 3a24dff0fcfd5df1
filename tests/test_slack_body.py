"""Slack's requests arrive over a real network, a body often in several TCP segments: the adapter
verifies the whole body, however it arrives, and refuses one over the limit without storing it.

A raw socket (asyncio streams to 127.0.0.1) sends the headers, then the body in pieces with short
pauses, as a slow or congested link does; an HTTP client library would send it in one write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.slack import MAX_BODY
from tests.fake_slack import FakeSlack, SlackSender, sign
from tests.test_slack import SECRET, slack_app

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
PAUSE = 0.05  # between pieces: long enough for the server to run its handler on a part of the body


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def client(tmp_path: Path, slack: FakeSlack, aiohttp_client: AiohttpClient) -> TestClient[Any, Any]:
    return await aiohttp_client(slack_app(tmp_path, slack))


def signed_delivery(event: dict[str, Any], event_id: str, *, padding: int = 0) -> tuple[bytes, dict[str, str]]:
    """An event_callback body (with `padding` bytes of an extra field Slack's parser ignores) and its headers."""
    sender = SlackSender(None, SECRET)
    envelope = sender.envelope(event, event_id=event_id)
    if padding:
        envelope["padding"] = ""
        envelope["padding"] = "x" * (padding - len(json.dumps(envelope).encode()))
    body = json.dumps(envelope).encode()
    return body, {"Content-Type": "application/json", **sign(body, SECRET)}


async def post_in_pieces(
    client: TestClient[Any, Any], body: bytes, headers: dict[str, str], *, pieces: int, chunked: bool = False
) -> int:
    """POSTs `body` to /slack/events in `pieces` writes with a pause between them; returns the status."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    try:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}{framing}\r\n\r\n".encode())
        await writer.drain()
        size = -(-len(body) // pieces)
        for start in range(0, len(body), size):
            await asyncio.sleep(PAUSE)
            piece = body[start:start + size]
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
            try:
                await writer.drain()
            except ConnectionError:  # the server answered and closed before the rest was sent
                break
        if chunked:
            with contextlib.suppress(ConnectionError):
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        return int(status_line.split()[1])
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def deliveries_recorded(tmp_path: Path) -> int:
    """Rows in the inbox, handled or not."""
    db = sqlite3.connect(tmp_path / "slack.db")
    try:
        (count,) = db.execute("SELECT COUNT(*) FROM inbox").fetchone()
        return int(count)
    finally:
        db.close()


async def test_a_body_split_into_several_segments_is_verified_whole_and_answered(
    client: TestClient[Any, Any], slack: FakeSlack
) -> None:
    sender = SlackSender(None, SECRET)
    for n in range(5):
        channel = f"DSPLIT{n}"
        body, headers = signed_delivery(sender.dm_event(f"USPLIT{n}", "I forgot my password", channel), f"EvSPLIT{n}")
        assert await post_in_pieces(client, body, headers, pieces=4) == 200
        await slack.wait_for(lambda calls: channel in {c.params.get("channel") for c in calls})


async def test_a_body_near_the_limit_in_pieces_is_accepted(client: TestClient[Any, Any], slack: FakeSlack) -> None:
    event = SlackSender(None, SECRET).dm_event("UBIG", "I forgot my password", "DBIG")
    body, headers = signed_delivery(event, "EvBIG", padding=MAX_BODY - 16)
    assert MAX_BODY - 16 <= len(body) <= MAX_BODY
    assert await post_in_pieces(client, body, headers, pieces=16) == 200
    await slack.wait_for_call("chat.postMessage", lambda c: c.params.get("channel") == "DBIG")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_limit_is_refused_and_nothing_is_recorded(
    client: TestClient[Any, Any], tmp_path: Path, chunked: bool
) -> None:
    event = SlackSender(None, SECRET).dm_event("UHUGE", "I forgot my password", "DHUGE")
    body, headers = signed_delivery(event, "EvHUGE", padding=MAX_BODY + 100)
    assert await post_in_pieces(client, body, headers, pieces=8, chunked=chunked) == 413
    assert deliveries_recorded(tmp_path) == 0
