"""A web chat POST sent again with its Idempotency-Key (the answer was lost: a crash, a cut
connection, a page retrying) is handled once and answered the same; without a key, every POST
is a message of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.test_webchat_api import make_app, messages, open_conversation

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: AiohttpClient) -> AsyncIterator[TestClient[Any, Any]]:
    yield await aiohttp_client(make_app(tmp_path, background=False))


async def customer_lines(client: TestClient[Any, Any], cid: str, auth: dict[str, str]) -> list[str]:
    return [m["text"] for m in await messages(client, cid, auth) if m["from"] == "customer"]


async def test_a_message_sent_again_with_its_key_is_handled_once(client: TestClient[Any, Any]) -> None:
    cid, auth = await open_conversation(client)
    url = f"/api/conversations/{cid}/messages"

    async def send(text: str, key: str | None) -> tuple[int, Any]:
        headers = {**auth, "Idempotency-Key": key} if key else auth
        response = await client.post(url, json={"text": text}, headers=headers)
        return response.status, await response.json()

    first = await send("I forgot my password", "k-1")
    assert first == (202, {"status": "accepted"})
    replies = len(await messages(client, cid, auth))
    assert await send("I forgot my password", "k-1") == first  # the retry: the same answer, nothing done again
    assert len(await messages(client, cid, auth)) == replies

    together = await asyncio.gather(*(send("Chrome", "k-2") for _ in range(3)))  # retries racing the original
    assert together == [(202, {"status": "accepted"})] * 3
    await send("Chrome", None)
    await send("Chrome", None)  # without a key: two messages
    assert await customer_lines(client, cid, auth) == ["I forgot my password", "Chrome", "Chrome", "Chrome"]


async def test_a_key_is_the_conversations_own(client: TestClient[Any, Any]) -> None:
    first, first_auth = await open_conversation(client)
    second, second_auth = await open_conversation(client)
    for cid, auth in ((first, first_auth), (second, second_auth)):
        response = await client.post(f"/api/conversations/{cid}/messages", json={"text": "hello"}, headers={**auth, "Idempotency-Key": "same"})
        assert response.status == 202
        assert await customer_lines(client, cid, auth) == ["hello"]


@pytest.mark.parametrize("key", ["", "has space", "x" * 201, "caf\u00e9"])
async def test_a_malformed_key_is_refused_and_nothing_stored(client: TestClient[Any, Any], key: str) -> None:
    cid, auth = await open_conversation(client)
    response = await client.post(f"/api/conversations/{cid}/messages", json={"text": "hello"}, headers={**auth, "Idempotency-Key": key})
    assert response.status == 400
    assert "Idempotency-Key" in (await response.json())["error"]
    assert await customer_lines(client, cid, auth) == []
