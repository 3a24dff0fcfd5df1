"""Slack over Socket Mode end to end: the real app, given an app-level token and no public URL,
connects to the local fake Slack's websocket; deliveries arrive as envelopes, replies go to the
fake Web API. Only the transport differs from tests/test_slack.py, so the journey is the same."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.server import RUNTIME, create_app
from adapters.slack_credentials import SlackCredentials
from bot.clock import SystemClock
from adapters.settings import build_settings
from bot.runtime import Runtime
from bot.store.sqlite import SQLiteStore
from tests.fake_slack import Ack, FakeSlack, SlackSender
from tests.harness import DEFAULT_ARTICLES, KeywordFinder
from tests.test_slack import ANA, CUSTOMER, DETAILS, DM, QUEUE, queue_card, said_to, texts_to

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
SECRET = ""  # Socket Mode needs no signing secret


def socket_mode_app(db: Path, slack: FakeSlack) -> web.Application:
    settings = build_settings(
        {
            "server": {"timer_poll_interval": "0.05s"},
            "business_hours": {"open": "00:00", "close": "24:00"},
            "slack": {"queue_channel": QUEUE, "channel_pace": "0s"},
            "roster": [{"id": "ana", "name": "Ana", "role": "agent", "slack": ANA}],
        }
    )
    return create_app(
        settings,
        clock=SystemClock(),
        store=SQLiteStore(db),
        articles=KeywordFinder(dict(DEFAULT_ARTICLES)),
        slack=SlackCredentials("xoxb-test", SECRET, app_token="xapp-1-test", api_url=slack.api_url),
    )


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def app_client(tmp_path: Path, slack: FakeSlack, aiohttp_client: AiohttpClient) -> TestClient[Any, Any]:
    client = await aiohttp_client(socket_mode_app(tmp_path / "slack.db", slack))
    await slack.wait_connected()
    return client


def runtime(client: TestClient[Any, Any]) -> Runtime:
    found: Runtime = client.app[RUNTIME]
    return found


@pytest.fixture
def sender(slack: FakeSlack) -> SlackSender:
    """Builds the payloads only: in Socket Mode they travel inside envelopes, not signed requests."""
    return SlackSender(None, SECRET, slack=slack)


async def dm(slack: FakeSlack, sender: SlackSender, text: str, *, event_id: str | None = None) -> Ack:
    event = sender.dm_event(CUSTOMER, text, DM)
    return await slack.push_envelope("events_api", sender.envelope(event, event_id=event_id or sender.new_event_id()))


async def press(slack: FakeSlack, sender: SlackSender, user: str, action: dict[str, Any], *, channel: str, message_ts: str) -> Ack:
    payload = sender.action_payload(user, action["action_id"], action["value"], channel=channel, message_ts=message_ts)
    return await slack.push_envelope("interactive", payload)


async def command(slack: FakeSlack, sender: SlackSender, name: str, text: str, *, user: str) -> Ack:
    return await slack.push_envelope("slash_commands", sender.command_form(name, text, user=user, channel=QUEUE))


async def test_connects_with_the_app_token_and_answers_a_dm_once(
    app_client: TestClient[Any, Any], slack: FakeSlack, sender: SlackSender
) -> None:
    [opened] = slack.calls_to("apps.connections.open")
    assert opened.token == "xapp-1-test" and opened.ok

    payload = sender.envelope(sender.dm_event(CUSTOMER, "I forgot my password", DM), event_id="EvSOCKET1")
    ack = await slack.push_envelope("events_api", payload, envelope_id="env-1")
    assert (ack.envelope_id, ack.payload) == ("env-1", None)
    reply = await said_to(slack, DM, "I've opened case CS-000001")
    assert "could you tell me" in str(reply.params["text"])

    # Slack redelivers an unacknowledged event in a new envelope, marked as a retry; and the same
    # envelope may arrive twice around a reconnect. Both are acknowledged, neither is answered.
    assert (await slack.push_envelope("events_api", payload, retry_attempt=1, retry_reason="timeout")).envelope_id
    assert (await slack.push_envelope("events_api", payload, envelope_id="env-1")).envelope_id == "env-1"
    await asyncio.sleep(0.3)
    assert len(texts_to(slack, DM)) == 1


async def test_nothing_is_acknowledged_that_the_store_did_not_take(
    app_client: TestClient[Any, Any], slack: FakeSlack, sender: SlackSender
) -> None:
    """Slack never resends what was acknowledged, so an ack must wait for the delivery's record.
    With the database closed for a moment, nothing is acked: Slack retries the event, and people
    see their command or click fail and try again; those then go through."""
    event = sender.envelope(sender.dm_event(CUSTOMER, "I forgot my password", DM), event_id="EvRECORDED")
    status = sender.command_form("/sb-status", "available", user=ANA, channel=QUEUE)
    click = sender.action_payload(CUSTOMER, "case.more", "1", channel=DM)
    store = runtime(app_client).store
    await store.close()
    try:
        for kind, payload in [("events_api", event), ("slash_commands", status), ("interactive", click)]:
            with pytest.raises(AssertionError, match="no ack"):
                await slack.push_envelope(kind, payload, timeout=0.5)
    finally:
        await store.open()
    assert slack.acks == []

    await slack.push_envelope("events_api", event, retry_attempt=1, retry_reason="timeout")
    await slack.push_envelope("slash_commands", status)
    await slack.push_envelope("interactive", click)
    await said_to(slack, DM, "I've opened case CS-000001")
    await slack.wait_for_call("chat.postEphemeral", lambda c: c.params.get("user") == ANA and "available" in str(c.params.get("text")))


async def test_the_whole_journey_over_socket_mode(
    app_client: TestClient[Any, Any], slack: FakeSlack, sender: SlackSender
) -> None:
    assert (await command(slack, sender, "/sb-status", "available", user=ANA)).payload is None
    await slack.wait_for_call("chat.postEphemeral", lambda c: c.params.get("user") == ANA and "available" in str(c.params.get("text")))

    await dm(slack, sender, "I forgot my password")
    await said_to(slack, DM, "could you tell me")
    await dm(slack, sender, DETAILS)
    offer = await said_to(slack, DM, "Reset a forgotten password")
    await press(slack, sender, CUSTOMER, offer.button("I still need help"), channel=DM, message_ts=offer.response["ts"])
    await said_to(slack, DM, "number 1 in the queue")

    card = await queue_card(slack)
    await press(slack, sender, ANA, card.button("Accept"), channel=QUEUE, message_ts=card.response["ts"])
    await said_to(slack, DM, "Ana has joined the chat")
    reply = sender.thread_reply_event(ANA, QUEUE, card.response["ts"], "Hi, I'm checking your account now")
    await slack.push_envelope("events_api", sender.envelope(reply, event_id=sender.new_event_id()))
    await said_to(slack, DM, "*Ana:* Hi, I'm checking your account now")

    refused = await command(slack, sender, "/sb-resolve", "CS-000001", user=CUSTOMER)
    assert refused.payload is not None and "Only support staff" in str(refused.payload.get("text"))
    await asyncio.sleep(0.3)
    assert not any("resolved" in t.lower() for t in texts_to(slack, DM))


async def test_a_refresh_or_a_dropped_socket_is_reconnected_and_nothing_is_lost(
    app_client: TestClient[Any, Any], slack: FakeSlack, sender: SlackSender
) -> None:
    await slack.disconnect("refresh_requested")
    await slack.wait_connected(connections=2)
    await dm(slack, sender, "I forgot my password")
    await said_to(slack, DM, "I've opened case CS-000001")

    await slack.close_sockets()
    await slack.wait_connected(connections=3)
    await dm(slack, sender, DETAILS)
    await said_to(slack, DM, "Reset a forgotten password")
    assert len(slack.calls_to("apps.connections.open")) == 3  # every connection on a fresh URL


async def test_malformed_envelopes_and_unknown_events_leave_the_connection_working(
    app_client: TestClient[Any, Any], slack: FakeSlack, sender: SlackSender
) -> None:
    frames: list[dict[str, Any] | str] = [
        "not json",
        "{broken",
        {"type": "events_api", "envelope_id": "no-payload"},
        {"type": "mystery", "envelope_id": "unknown-type", "payload": {"type": "event_callback"}},
        {"type": "events_api", "envelope_id": "no-event", "payload": {"type": "event_callback"}},
        {"type": "interactive", "envelope_id": "bad-actions", "payload": {"type": "block_actions", "actions": "not a list"}},
    ]
    for frame in frames:
        await slack.socket_send(frame)
    no_event_id = {"type": "event_callback", "event": sender.dm_event(CUSTOMER, "no id", DM)}
    await slack.push_envelope("events_api", no_event_id)  # acknowledged (Slack must not retry it) and dropped
    reaction = {"type": "reaction_added", "user": CUSTOMER, "reaction": "eyes"}
    await slack.push_envelope("events_api", sender.envelope(reaction, event_id="EvREACT"))  # acked and ignored, as over HTTP

    await dm(slack, sender, "I forgot my password")
    await said_to(slack, DM, "I've opened case CS-000001")
    assert slack.socket_connections == 1  # the same connection throughout
    assert all("no id" not in t for t in texts_to(slack, DM))


async def test_interactions_the_bot_does_not_use_are_acknowledged(
    app_client: TestClient[Any, Any], slack: FakeSlack, sender: SlackSender
) -> None:
    """Bolt sends no ack for a request no listener matches; Slack would show the person an error."""
    user = {"id": CUSTOMER}
    unused = [
        {"type": "shortcut", "callback_id": "sc", "user": user, "trigger_id": "1.2"},
        {"type": "message_action", "callback_id": "ma", "user": user, "trigger_id": "1.3", "channel": {"id": DM},
         "message": {"ts": "1.1", "text": "x"}},
        {"type": "view_submission", "user": user, "view": {"id": "V1", "type": "modal", "callback_id": "x", "state": {"values": {}}}},
        {"type": "view_closed", "user": user, "view": {"id": "V1", "type": "modal", "callback_id": "x"}},
    ]
    for payload in unused:
        assert (await slack.push_envelope("interactive", payload, timeout=2)).payload is None, payload["type"]
    options = await slack.push_envelope("interactive", {"type": "block_suggestion", "user": user, "action_id": "a", "value": "q"})
    assert options.payload == {"options": []}


async def test_slacks_rate_limit_notice_is_acknowledged_and_logged(
    app_client: TestClient[Any, Any], slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    """It carries no event, so bolt has no listener for it and would never ack it."""
    notice = {"type": "app_rate_limited", "team_id": "T1", "minute_rate_limited": 1518467820, "api_app_id": "A0001"}
    with caplog.at_level(logging.WARNING, logger="adapters.slack"):
        ack = await slack.push_envelope("events_api", notice, timeout=2)
    assert ack.payload is None
    assert any("rate limiting" in r.getMessage() for r in caplog.records)


async def test_start_up_does_not_wait_for_slacks_websocket(tmp_path: Path, slack: FakeSlack, aiohttp_client: AiohttpClient) -> None:
    """Web chat and the health check must not be down while Slack is slow or unreachable."""
    slack.delay("apps.connections.open", 3.0)
    client = await aiohttp_client(socket_mode_app(tmp_path / "slack.db", slack))
    assert (await client.get("/healthz")).status == 200
    assert not slack.connected  # serving already, while Slack is still handing out the URL
    await slack.wait_connected(timeout=10)


async def test_without_a_signing_secret_nothing_is_taken_over_http(app_client: TestClient[Any, Any], slack: FakeSlack, sender: SlackSender) -> None:
    """Socket Mode alone: no HTTP endpoint that would accept unverifiable requests."""
    response = await app_client.post("/slack/events", json={"type": "url_verification", "challenge": "x"})
    assert response.status == 404
    await dm(slack, sender, "I forgot my password")
    await said_to(slack, DM, "CS-000001")
