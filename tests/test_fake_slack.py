"""Tests of the fake Slack itself, driven by the real slack_sdk client and slack_bolt app."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import ClientSession, WSServerHandshakeError, web
from aiohttp.test_utils import TestClient
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp, AsyncSay
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.fake_slack import FakeSlack, SlackSender, sign

SECRET = "s3cr3t-signing"
BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Hi* there"}},
    {
        "type": "actions",
        "elements": [
            {"type": "button", "action_id": "resolve", "value": "c1", "text": {"type": "plain_text", "text": "Done"}}
        ],
    },
]

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def client(slack: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    web_client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
    yield web_client
    if web_client.session is not None:
        await web_client.session.close()


# -- Web API ---------------------------------------------------------------------------------------


async def test_api_url_points_at_a_local_port(slack: FakeSlack) -> None:
    assert slack.port > 0
    assert slack.api_url == f"http://127.0.0.1:{slack.port}/api/"


async def test_post_message_with_blocks_is_recorded_parsed(slack: FakeSlack, client: AsyncWebClient) -> None:
    first = await client.chat_postMessage(channel="D123", text="hello", blocks=BLOCKS, thread_ts="1.000001")
    second = await client.chat_postMessage(channel="C9", text="again")

    assert first["ok"] is True
    assert first["channel"] == "D123"
    assert float(first["ts"]) == pytest.approx(time.time(), abs=5)  # Slack's ts is its clock's time of posting
    assert first["message"]["user"] == "UBOT"
    assert first["message"]["bot_id"] == "BBOT"
    assert first["message"]["thread_ts"] == "1.000001"
    assert first["message"]["text"] == "hello"
    assert float(second["ts"]) > float(first["ts"])
    assert "thread_ts" not in second["message"]

    [call, _] = slack.calls_to("chat.postMessage")
    assert call.token == "xoxb-test"
    assert call.params["blocks"] == BLOCKS
    assert call.params["channel"] == "D123"
    assert call.at == pytest.approx(time.time(), abs=5)
    assert slack.posted_texts() == ["hello", "again"]
    assert slack.posted_texts("C9") == ["again"]


async def test_form_encoded_json_string_fields_are_parsed(slack: FakeSlack, client: AsyncWebClient) -> None:
    await client.api_call("chat.postMessage", data={"channel": "C1", "text": "x", "blocks": json.dumps(BLOCKS)})
    assert slack.calls_to("chat.postMessage")[0].params["blocks"] == BLOCKS


async def test_post_message_without_channel_fails_like_slack(slack: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.api_call("chat.postMessage", json={"text": "nowhere"})
    assert err.value.response.status_code == 200
    assert err.value.response["error"] == "channel_not_found"
    assert slack.posted_texts() == []


async def test_update_ephemeral_open_users_and_auth(slack: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="D123", text="v1")
    updated = await client.chat_update(channel="D123", ts=posted["ts"], text="v2", blocks=BLOCKS)
    assert (updated["ok"], updated["channel"], updated["ts"], updated["text"]) == (True, "D123", posted["ts"], "v2")
    stored = slack.message("D123", posted["ts"])
    assert stored is not None and stored["text"] == "v2" and stored["blocks"] == BLOCKS

    ephemeral = await client.chat_postEphemeral(channel="C1", user="U123", text="psst")
    assert ephemeral["ok"] is True and ephemeral["message_ts"]

    opened = await client.conversations_open(users="U123")
    assert opened["channel"]["id"] == "D123"
    assert slack.calls_to("conversations.open")[0].params["users"] == "U123"

    default = await client.users_info(user="U777")
    assert default["user"]["id"] == "U777"
    assert default["user"]["profile"]["real_name"] == default["user"]["real_name"]
    slack.set_user("U123", real_name="Ada Lovelace", display_name="ada", locale="fr-FR")
    info = await client.users_info(user="U123")
    assert info["user"]["real_name"] == "Ada Lovelace"
    assert info["user"]["profile"] == {"display_name": "ada", "real_name": "Ada Lovelace"}
    assert info["user"]["locale"] == "fr-FR"

    auth = await client.auth_test()
    assert auth.data == {
        "ok": True,
        "url": "https://example.slack.com/",
        "team": "Example",
        "user": "supportbot",
        "team_id": "T0001",
        "user_id": "UBOT",
        "bot_id": "BBOT",
        "is_enterprise_install": False,
    }
    assert [c.method for c in slack.calls] == [
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "conversations.open",
        "users.info",
        "users.info",
        "auth.test",
    ]


async def test_history_and_replies_return_metadata_when_asked_within_their_bounds(slack: FakeSlack, client: AsyncWebClient) -> None:
    tag = {"event_type": "supportbot_outbox", "event_payload": {"outbox_id": 7, "post": "card"}}
    card = await client.chat_postMessage(channel="C1", text="card", metadata=tag)
    reply = await client.chat_postMessage(channel="C1", text="in thread", thread_ts=card["ts"], metadata=tag)
    later = await client.chat_postMessage(channel="C1", text="later")
    await client.chat_postMessage(channel="C2", text="elsewhere")

    history = await client.conversations_history(channel="C1", include_all_metadata=True)
    assert [m["text"] for m in history["messages"]] == ["later", "card"]  # newest first, top level only
    assert history["messages"][1]["metadata"] == tag and "metadata" not in history["messages"][0]
    plain = await client.conversations_history(channel="C1")
    assert all("metadata" not in m for m in plain["messages"])  # only when asked

    assert [m["text"] for m in (await client.conversations_history(channel="C1", oldest=card["ts"]))["messages"]] == ["later"]
    assert [m["text"] for m in (await client.conversations_history(channel="C1", oldest=card["ts"], inclusive=True))["messages"]] == ["later", "card"]
    assert [m["text"] for m in (await client.conversations_history(channel="C1", latest=later["ts"]))["messages"]] == ["card"]

    first = await client.conversations_history(channel="C1", limit=1)
    assert [m["text"] for m in first["messages"]] == ["later"] and first["has_more"] is True
    rest = await client.conversations_history(channel="C1", limit=1, cursor=first["response_metadata"]["next_cursor"])
    assert [m["text"] for m in rest["messages"]] == ["card"] and rest["has_more"] is False

    thread = await client.conversations_replies(channel="C1", ts=card["ts"], include_all_metadata=True)
    assert [(m["text"], m.get("metadata")) for m in thread["messages"]] == [("card", tag), ("in thread", tag)]
    since = await client.conversations_replies(channel="C1", ts=card["ts"], oldest=reply["ts"])
    assert [m["text"] for m in since["messages"]] == ["card"]  # the parent always comes first
    with pytest.raises(SlackApiError) as err:
        await client.conversations_replies(channel="C1", ts="1.000001")
    assert err.value.response["error"] == "thread_not_found"
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="x", metadata={"event_payload": {}})
    assert err.value.response["error"] == "invalid_metadata_format"


async def test_unknown_method(slack: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.api_call("reactions.add", params={"name": "eyes"})
    assert err.value.response.status_code == 200
    assert err.value.response["error"] == "unknown_method"


async def test_missing_and_invalid_tokens(slack: FakeSlack) -> None:
    for token, error in [(None, "not_authed"), ("xoxp-user", "invalid_auth"), ("garbage", "invalid_auth")]:
        anon = AsyncWebClient(token=token, base_url=slack.api_url)
        with pytest.raises(SlackApiError) as err:
            await anon.auth_test()
        assert err.value.response["error"] == error
    app_level = AsyncWebClient(token="xapp-1-abc", base_url=slack.api_url)
    assert (await app_level.auth_test())["ok"] is True


async def test_rate_limit_raises_by_default(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after=7)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="hi")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"
    assert slack.calls_to("chat.postMessage") == []
    assert len(slack.attempts_to("chat.postMessage")) == 1
    assert slack.posted_texts() == []

    await client.chat_postMessage(channel="C1", text="hi")  # the fault was used up
    assert slack.posted_texts() == ["hi"]


async def test_rate_limit_with_retry_handler_succeeds_once(slack: FakeSlack, client: AsyncWebClient) -> None:
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    slack.rate_limit("chat.postMessage", times=1, retry_after=0)  # the handler sleeps 0 + random() s

    started = time.monotonic()
    resp = await client.chat_postMessage(channel="C1", text="eventually")
    assert resp["ok"] is True
    assert time.monotonic() - started < 1.5
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert [a.status for a in slack.attempts_to("chat.postMessage")] == [429, 200]
    assert slack.posted_texts() == ["eventually"]


async def test_server_error(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail("chat.update", times=2, status=503)
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            await client.chat_update(channel="C1", ts="1.0", text="x")
        assert err.value.response.status_code == 503
    assert (await client.chat_update(channel="C1", ts="1.0", text="x"))["ok"] is True
    assert len(slack.calls_to("chat.update")) == 1
    assert len(slack.attempts_to("chat.update")) == 3

    slack.fail("chat.postMessage")
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 500


async def test_injected_slack_level_error(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail("chat.postMessage", status=200, error="is_archived")
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 200
    assert err.value.response["error"] == "is_archived"


async def test_delay_and_wait_for(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.delay("chat.postMessage", 0.2)
    started = time.monotonic()
    task = asyncio.create_task(client.chat_postMessage(channel="C1", text="slow"))
    call = await slack.wait_for_call("chat.postMessage", lambda c: c.params["text"] == "slow", timeout=2)
    assert time.monotonic() - started >= 0.2
    assert call.response["ok"] is True
    await task

    slack.delay("chat.postMessage", 0)
    with pytest.raises(AssertionError, match="timed out"):
        await slack.wait_for(lambda calls: len(calls) > 5, timeout=0.05)

    slack.clear()
    assert slack.calls == [] and slack.attempts == []


# -- signing ---------------------------------------------------------------------------------------


def test_sign_verifies_with_slack_sdk() -> None:
    body = b'{"type":"event_callback"}'
    headers = sign(body, SECRET)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + b" ", headers)
    old = sign(body, SECRET, timestamp=int(time.time()) - 600)
    assert old["X-Slack-Request-Timestamp"] == str(int(time.time()) - 600)
    assert not verifier.is_valid_request(body, old)


# -- SlackSender -----------------------------------------------------------------------------------


def recording_app(received: list[tuple[dict[str, str], bytes]]) -> web.Application:
    verifier = SignatureVerifier(SECRET)

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        received.append((dict(request.headers), body))
        if not verifier.is_valid_request(body, dict(request.headers)):
            return web.Response(status=401, text="invalid signature")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    return app


async def test_sender_events_are_signed_enveloped_and_retryable(
    aiohttp_client: AiohttpClient, slack: FakeSlack
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    sender = SlackSender(await aiohttp_client(recording_app(received)), SECRET, slack=slack)

    first = await sender.dm("U123", "hello")
    second = await sender.dm("U123", "again")
    assert (first.status, first.text) == (200, "ok")
    assert first.event_id and second.event_id and first.event_id != second.event_id

    headers, body = received[0]
    envelope = json.loads(body)
    assert headers["Content-Type"] == "application/json"
    assert "X-Slack-Retry-Num" not in headers
    assert envelope["type"] == "event_callback"
    assert envelope["event_id"] == first.event_id
    assert envelope["team_id"] == "T0001" and envelope["api_app_id"] == "A0001"
    assert envelope["authorizations"][0]["user_id"] == "UBOT"
    assert envelope["authorizations"][0]["is_bot"] is True
    event = envelope["event"]
    assert (event["type"], event["channel"], event["channel_type"], event["user"], event["text"]) == (
        "message",
        "D123",
        "im",
        "U123",
        "hello",
    )
    assert float(json.loads(received[1][1])["event"]["ts"]) > float(event["ts"])

    retry = await sender.send_event(event, event_id=first.event_id, retry_num=1)
    assert retry.event_id == first.event_id
    retry_headers, retry_body = received[-1]
    assert retry_headers["X-Slack-Retry-Num"] == "1"
    assert retry_headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert json.loads(retry_body)["event_id"] == first.event_id

    await sender.thread_reply("U123", "C42", "1700000000.000100", "in thread")
    await sender.mention("U123", "C42", "help me")
    reply, mention = (json.loads(b)["event"] for _, b in received[-2:])
    assert (reply["thread_ts"], reply["channel_type"]) == ("1700000000.000100", "channel")
    assert (mention["type"], mention["text"]) == ("app_mention", "<@UBOT> help me")

    assert (await sender.with_secret("wrong").dm("U123", "x")).status == 401
    assert (await sender.send_event(event, timestamp=int(time.time()) - 600)).status == 401
    assert (await sender.send_raw(b"{not json", {"Content-Type": "application/json"})).status == 401
    assert (await sender.send_raw(b"{not json", {"Content-Type": "application/json"}, signed=True)).text == "ok"


async def test_sender_actions_and_commands(aiohttp_client: AiohttpClient, slack: FakeSlack) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    sender = SlackSender(await aiohttp_client(recording_app(received)), SECRET, slack=slack)

    resp = await sender.send_action("U123", "resolve", "case-1", channel="D123", message_ts="1700000000.000100")
    assert resp.status == 200
    headers, body = received[-1]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U123" and payload["team"]["id"] == "T0001"
    assert payload["channel"]["id"] == "D123"
    assert payload["message"]["ts"] == "1700000000.000100"
    assert payload["container"]["message_ts"] == "1700000000.000100"
    [action] = payload["actions"]
    assert (action["action_id"], action["value"], action["type"]) == ("resolve", "case-1", "button")
    assert action["block_id"] and action["action_ts"]
    assert payload["trigger_id"] and payload["api_app_id"] == "A0001"
    assert payload["response_url"].startswith(slack.base_url)

    async with ClientSession() as http:
        async with http.post(payload["response_url"], json={"text": "Resolved", "replace_original": True}) as r:
            assert r.status == 200
    [hook] = slack.calls_to("response_url")
    assert hook.params["text"] == "Resolved"

    resp = await sender.send_command("/support", "status", user="U123", channel="C42")
    assert resp.status == 200
    form = {k: v[0] for k, v in parse_qs(received[-1][1].decode()).items()}
    assert (form["command"], form["text"], form["user_id"], form["channel_id"]) == ("/support", "status", "U123", "C42")
    assert form["team_id"] == "T0001" and form["token"] and form["trigger_id"] and form["response_url"]


async def test_sender_with_own_session_against_real_server(slack: FakeSlack) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    runner = web.AppRunner(recording_app(received))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with SlackSender(None, SECRET, base_url=f"http://127.0.0.1:{runner.addresses[0][1]}") as sender:
            assert (await sender.mention("U1", "C1", "<@UBOT> hi")).text == "ok"
        assert json.loads(received[0][1])["event"]["text"] == "<@UBOT> hi"
    finally:
        await runner.cleanup()


# -- Socket Mode -----------------------------------------------------------------------------------


async def test_only_an_app_level_token_opens_a_socket_mode_url(slack: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.apps_connections_open(app_token="xoxb-test")
    assert err.value.response["error"] == "not_allowed_token_type"

    opened = await client.apps_connections_open(app_token="xapp-1-test")
    assert opened["url"].startswith(f"ws://127.0.0.1:{slack.port}/link/?ticket=")
    assert slack.calls_to("apps.connections.open")[-1].token == "xapp-1-test"
    async with ClientSession() as http:
        async with http.ws_connect(opened["url"]) as ws:
            hello = await ws.receive_json(timeout=2)
            assert hello["type"] == "hello" and hello["connection_info"]["app_id"] == "A0001"
            assert slack.connected and slack.socket_connections == 1
        with pytest.raises(WSServerHandshakeError) as refused:
            await http.ws_connect(opened["url"].replace("ticket=", "ticket=forged"))
        assert refused.value.status == 401
    deadline = time.monotonic() + 2
    while slack.connected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert not slack.connected
    with pytest.raises(AssertionError, match="no Socket Mode client"):
        await slack.socket_send({"type": "hello"})


@pytest.fixture
async def socket_client(slack: FakeSlack) -> AsyncIterator[tuple[SocketModeClient, list[SocketModeRequest], list[dict[str, Any]]]]:
    """slack_sdk's own aiohttp Socket Mode client against the fake: it acks every envelope except
    events of type ``ignored``, answering slash commands with a text; it keeps what it received."""
    requests: list[SocketModeRequest] = []
    messages: list[dict[str, Any]] = []

    async def on_message(_: AsyncBaseSocketModeClient, message: dict[str, Any], raw: str | None) -> None:
        messages.append(message)

    async def on_request(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        requests.append(request)
        if request.payload.get("event", {}).get("type") == "ignored":
            return
        answer = {"text": f"ran {request.payload['command']}"} if request.type == "slash_commands" else None
        await client.send_socket_mode_response(SocketModeResponse(request.envelope_id, answer))

    client = SocketModeClient(app_token="xapp-1-test", web_client=AsyncWebClient(base_url=slack.api_url))
    client.message_listeners.append(on_message)
    client.socket_mode_request_listeners.append(on_request)
    await client.connect()  # type: ignore[no-untyped-call]
    yield client, requests, messages
    await client.close()  # type: ignore[no-untyped-call]


async def test_socket_mode_envelopes_are_acknowledged_by_slack_sdks_client(
    slack: FakeSlack, socket_client: tuple[SocketModeClient, list[SocketModeRequest], list[dict[str, Any]]]
) -> None:
    _, requests, messages = socket_client
    await slack.wait_connected()
    sender = SlackSender(None, SECRET, slack=slack)

    event = sender.envelope(sender.dm_event("U123", "hello"), event_id="Ev1")
    ack = await slack.push_envelope("events_api", event, envelope_id="env-1")
    assert (ack.envelope_id, ack.payload) == ("env-1", None)
    assert ack.at == pytest.approx(time.time(), abs=5)
    [request] = requests
    assert (request.type, request.envelope_id, request.accepts_response_payload) == ("events_api", "env-1", False)
    assert request.payload["event"]["text"] == "hello"
    assert (request.retry_attempt, request.retry_reason) == (0, "")

    retry = await slack.push_envelope("events_api", event, retry_attempt=1, retry_reason="timeout")
    assert (requests[-1].retry_attempt, requests[-1].retry_reason, requests[-1].payload["event_id"]) == (1, "timeout", "Ev1")

    command = await slack.push_envelope("slash_commands", sender.command_form("/sb-status", "away", user="U123", channel="C1"))
    assert command.payload == {"text": "ran /sb-status"}
    assert requests[-1].accepts_response_payload is True
    action = await slack.push_envelope("interactive", sender.action_payload("U123", "resolve", "c1", channel="D123"))
    assert requests[-1].payload["actions"][0]["action_id"] == "resolve"
    assert slack.acks == [ack, retry, command, action]

    with pytest.raises(AssertionError, match="no ack for events_api envelope"):
        await slack.push_envelope("events_api", {"type": "event_callback", "event": {"type": "ignored"}}, timeout=0.2)
    assert messages[0]["type"] == "hello"
    slack.clear()
    assert slack.acks == []


async def test_socket_mode_client_reconnects_on_disconnect_and_on_close(
    slack: FakeSlack, socket_client: tuple[SocketModeClient, list[SocketModeRequest], list[dict[str, Any]]]
) -> None:
    client, requests, _ = socket_client
    await slack.wait_connected()
    await slack.disconnect("refresh_requested")
    await slack.wait_connected(connections=2)
    assert len(slack.calls_to("apps.connections.open")) == 2  # a fresh URL for every connection
    deadline = time.monotonic() + 2
    while slack.open_sockets > 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert slack.open_sockets == 1  # the client closed the old socket
    await slack.push_envelope("interactive", {"type": "block_actions", "actions": []})

    await slack.close_sockets()
    await slack.wait_connected(connections=3)
    await slack.push_envelope("interactive", {"type": "block_actions", "actions": []})
    assert len(requests) == 2

    await client.close()  # type: ignore[no-untyped-call]
    assert not slack.connected
    with pytest.raises(AssertionError, match="timed out"):
        await slack.wait_connected(connections=4, timeout=0.1)


# -- the whole loop with a real Bolt app -----------------------------------------------------------


async def test_bolt_app_round_trip(aiohttp_client: AiohttpClient, slack: FakeSlack) -> None:
    bolt = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(token="xoxb-test", base_url=slack.api_url),
    )

    @bolt.event("message")
    async def on_message(event: dict[str, Any], say: AsyncSay) -> None:
        await say(text=f"echo: {event['text']}")

    @bolt.action("resolve")
    async def on_resolve(ack: Callable[[], Awaitable[None]], body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_postMessage(channel=body["channel"]["id"], text=f"resolved {body['actions'][0]['value']}")

    async def endpoint(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", endpoint)
    sender = SlackSender(await aiohttp_client(app), SECRET, slack=slack)

    assert (await sender.dm("U123", "hi")).status == 200
    await slack.wait_for(lambda calls: any(c.method == "chat.postMessage" for c in calls))
    assert slack.posted_texts("D123") == ["echo: hi"]
    assert slack.calls_to("auth.test"), "Bolt verifies its token against the fake"

    assert (await sender.send_action("U123", "resolve", "case-9", channel="D123")).status == 200
    await slack.wait_for(lambda calls: len([c for c in calls if c.method == "chat.postMessage"]) == 2)
    assert slack.posted_texts("D123") == ["echo: hi", "resolved case-9"]

    assert (await sender.with_secret("wrong").dm("U123", "forged")).status == 401
