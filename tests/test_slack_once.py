"""A retried Slack delivery never posts what an earlier try posted: the post that Slack carried out
but never answered is found by its metadata, a refused one is simply posted again, and a message
split in parts re-posts only the parts that did not go out. The app is the real one, Slack the
local fake (tests/fake_slack.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.server import RUNTIME
from adapters.slack_once import EVENT_TYPE
from tests.fake_slack import FakeSlack, SlackSender
from tests.test_slack import ANA, CUSTOMER, DETAILS, DM, QUEUE, SECRET, accepted_chat, said_to, slack_app

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def app_client(tmp_path: Path, slack: FakeSlack, aiohttp_client: AiohttpClient) -> TestClient[Any, Any]:
    return await aiohttp_client(slack_app(tmp_path, slack))


@pytest.fixture
def sender(app_client: TestClient[Any, Any], slack: FakeSlack) -> SlackSender:
    return SlackSender(app_client, SECRET, slack=slack)


def bot_messages(slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    """What people see in `channel` from the bot, oldest first."""
    return [m for m in slack.messages_in(channel) if m.get("bot_id")]


async def settled(client: TestClient[Any, Any], slack: FakeSlack, *, timeout: float = 10.0) -> None:
    """Until the outbox is empty, and a little longer for a post that should not come."""
    store = client.app[RUNTIME].store
    deadline = asyncio.get_running_loop().time() + timeout
    while (await store.backlog()).outbox:
        assert asyncio.get_running_loop().time() < deadline, "the outbox never emptied"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)


async def test_a_reply_slack_posted_without_answering_is_found_not_posted_again(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]
) -> None:
    slack.fail("chat.postMessage", status=500, error="fatal_error", carried_out=True, channel=DM)
    slack.rate_limit("conversations.history", times=1, retry_after=0)  # a lookup refused for now is tried again, never skipped
    await sender.dm(CUSTOMER, "I forgot my password", channel=DM)
    await slack.wait_for(lambda calls: any(c.method == "conversations.history" for c in calls), timeout=10)
    await settled(app_client, slack)

    [reply] = bot_messages(slack, DM)
    assert "I've opened case CS-000001" in reply["text"]
    assert reply["metadata"] == {"event_type": EVENT_TYPE, "event_payload": {"outbox_id": 1, "post": "part0"}}
    assert len(slack.attempts_to("chat.postMessage")) == 1
    assert [a.status for a in slack.attempts_to("conversations.history")] == [429, 200]
    [lookup] = slack.calls_to("conversations.history")
    assert lookup.params["channel"] == DM and lookup.params["include_all_metadata"] is True
    assert float(lookup.params["oldest"]) < float(reply["ts"])


async def test_a_queue_card_and_its_articles_slack_posted_without_answering_are_kept(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]
) -> None:
    """The card is found in the channel's history, its articles in its thread (conversations.replies);
    the card found is the one the chat lives on."""
    slack.fail("chat.postMessage", times=2, status=500, error="fatal_error", carried_out=True, channel=QUEUE)
    await sender.send_command("/sb-status", "available", user=ANA, channel=QUEUE)
    await sender.dm(CUSTOMER, f"My export is broken. {DETAILS}", channel=DM)
    offer = await said_to(slack, DM, "Export reports")
    more = offer.button("I still need help")
    await sender.send_action(CUSTOMER, more["action_id"], more["value"], channel=DM)
    await slack.wait_for(lambda calls: any(c.method == "conversations.replies" for c in calls), timeout=15)
    await settled(app_client, slack)

    [card] = [m for m in bot_messages(slack, QUEUE) if "thread_ts" not in m]
    [articles] = [m for m in bot_messages(slack, QUEUE) if m.get("thread_ts") == card["ts"]]
    assert "CS-000001" in card["text"] and "Export reports" in str(articles["blocks"])
    assert [c.params["channel"] for c in slack.calls_to("conversations.history")] == [QUEUE]
    assert [c.params["ts"] for c in slack.calls_to("conversations.replies")] == [card["ts"]]
    assert len(slack.attempts_to("chat.postMessage")) == len(slack.calls_to("chat.postMessage")) + 2  # nothing re-posted

    accept = next(e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"])
    await sender.send_action(ANA, accept["action_id"], accept["value"], channel=QUEUE, message_ts=card["ts"])
    await said_to(slack, DM, "Ana has joined")
    await slack.wait_for_call("chat.update", lambda c: c.params.get("ts") == card["ts"] and "with agent" in str(c.params.get("text")))
    await sender.thread_reply(ANA, QUEUE, card["ts"], "Which class are you exporting?")
    await said_to(slack, DM, "*Ana:* Which class are you exporting?")


async def test_a_part_slack_refused_is_posted_again_alone_without_a_lookup(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]
) -> None:
    card = await accepted_chat(sender, slack)
    slack.fail("chat.postMessage", status=429, error="ratelimited", after=1, channel=DM)  # the second part: Slack posted nothing
    long_reply = ("Step " + "x" * 60 + "\n") * 55  # about 3,600 characters: two messages
    await sender.thread_reply(ANA, QUEUE, card.response["ts"], long_reply.strip())
    await slack.wait_for(lambda calls: "".join(str(c.params.get("text")) for c in calls if c.params.get("channel") == DM).count("Step") == 55, timeout=10)
    await settled(app_client, slack)

    said = "".join(m["text"] for m in bot_messages(slack, DM))
    assert said.count("Step") == 55  # the first part once, the second once
    assert slack.attempts_to("conversations.history") == []


async def test_a_lookup_slack_cannot_answer_is_logged_and_the_reply_posted_again(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The one place a duplicate remains: Slack will not say whether the earlier post went out."""
    slack.fail("chat.postMessage", status=500, error="fatal_error", carried_out=True, channel=DM)
    slack.fail("conversations.history", status=200, error="missing_scope")
    with caplog.at_level(logging.WARNING, logger="adapters.slack_once"):
        await sender.dm(CUSTOMER, "I forgot my password", channel=DM)
        await slack.wait_for(lambda calls: any(c.method == "chat.postMessage" and c.params.get("channel") == DM for c in calls), timeout=10)
        await settled(app_client, slack)

    assert [("I've opened case" in m["text"]) for m in bot_messages(slack, DM)] == [True, True]
    [warned] = [r for r in caplog.records if r.name == "adapters.slack_once"]
    assert (getattr(warned, "error"), getattr(warned, "outbox_id"), getattr(warned, "post")) == ("missing_scope", 1, "part0")
