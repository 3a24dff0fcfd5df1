"""Slack end to end: signed deliveries over HTTP into the real app, replies at a local fake Slack."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.server import RUNTIME, create_app
from adapters.slack import SlackAdapter
from adapters.slack_blocks import escape, split_text
from adapters.slack_outbound import ChannelPacer
from adapters.slack_credentials import SlackCredentials
from bot.clock import Clock, FakeClock, SystemClock
from adapters.settings import build_settings
from bot.flows.intake import parse_details
from bot.runtime import Runtime
from bot.store.sqlite import SQLiteStore
from tests.fake_slack import APP_ID, Call, FakeSlack, SlackSender
from tests.harness import DEFAULT_ARTICLES, KeywordFinder
from tests.metrics_scrape import sample, scrape

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
SECRET = "test-signing-secret"
QUEUE = "CQUEUE"
ANA, TARA, MAYA, CUSTOMER = "UANA", "UTARA", "UMAYA", "UCUST"
DM = "DCUST"
DETAILS = "user ID 48213, Chrome, ann@school.org, the error says 'Invalid password', steps: I typed it twice"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


def slack_app(tmp_path: Path, slack: FakeSlack, clock: Clock | None = None, **slack_settings: Any) -> web.Application:
    """The service with Slack on, the roster below and `[slack]` settings beyond the queue channel."""
    settings = build_settings(
        {
            "server": {"timer_poll_interval": "0.05s"},
            "business_hours": {"open": "00:00", "close": "24:00"},
            "slack": {"queue_channel": QUEUE, "channel_pace": "0s", **slack_settings},
            "roster": [
                {"id": "ana", "name": "Ana", "role": "agent", "slack": ANA},
                {"id": "tara", "name": "Tara", "role": "tier2", "slack": TARA},
                {"id": "maya", "name": "Maya", "role": "manager", "on_duty": True, "slack": MAYA},
            ],
        }
    )
    return create_app(
        settings,
        clock=clock or SystemClock(),  # outbox retries wait real seconds here; no test needs minutes to pass
        store=SQLiteStore(tmp_path / "slack.db"),
        articles=KeywordFinder(dict(DEFAULT_ARTICLES)),
        slack=SlackCredentials("xoxb-test", SECRET, api_url=slack.api_url),
    )


@pytest.fixture
async def app_client(tmp_path: Path, slack: FakeSlack, aiohttp_client: AiohttpClient) -> TestClient[Any, Any]:
    return await aiohttp_client(slack_app(tmp_path, slack))


@pytest.fixture
def sender(app_client: TestClient[Any, Any], slack: FakeSlack) -> SlackSender:
    return SlackSender(app_client, SECRET, slack=slack)


def runtime(client: TestClient[Any, Any]) -> Runtime:
    return client.app[RUNTIME]


def texts_to(slack: FakeSlack, channel: str) -> list[str]:
    return [str(c.params.get("text", "")) for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == channel]


async def said_to(slack: FakeSlack, channel: str, fragment: str, timeout: float = 5.0) -> Call:
    def match(call: Call) -> bool:
        return call.params.get("channel") == channel and fragment in str(call.params.get("text", ""))

    return await slack.wait_for_call("chat.postMessage", match, timeout=timeout)



async def queue_card(slack: FakeSlack) -> Call:
    return await slack.wait_for_call("chat.postMessage", lambda c: c.params.get("channel") == QUEUE and "CS-000001" in str(c.params.get("text")))


async def test_the_whole_journey_through_slack(sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]) -> None:
    assert (await sender.send_command("/sb-status", "available", user=ANA, channel=QUEUE)).status == 200
    await slack.wait_for_call("chat.postEphemeral", lambda c: "available" in str(c.params.get("text")))

    await sender.dm(CUSTOMER, "I forgot my password", channel=DM)
    await said_to(slack, DM, "I've opened case CS-000001")
    await said_to(slack, DM, "could you tell me")
    await sender.dm(CUSTOMER, DETAILS, channel=DM)
    offer = await said_to(slack, DM, "Reset a forgotten password")
    more = offer.button("I still need help")
    await sender.send_action(CUSTOMER, more["action_id"], more["value"], channel=DM, message_ts=offer.response["ts"])
    await said_to(slack, DM, "number 1 in the queue")

    card = await queue_card(slack)
    accept = card.button("Accept")
    assert "a***@school.org" in json.dumps(card.params["blocks"])  # Tier I reads the card: masked
    assert "ann@school.org" not in json.dumps(card.params)
    thread = card.response["ts"]
    await sender.send_action(ANA, accept["action_id"], accept["value"], channel=QUEUE, message_ts=thread)
    await said_to(slack, DM, "Ana has joined the chat")
    await slack.wait_for_call("chat.update", lambda c: c.params.get("ts") == thread and "with agent" in str(c.params.get("text")))

    await sender.thread_reply(ANA, QUEUE, thread, "Hi, I'm checking your account now")
    await said_to(slack, DM, "*Ana:* Hi, I'm checking your account now")
    await sender.dm(CUSTOMER, "thank you, still locked out", channel=DM)
    relay = await said_to(slack, QUEUE, "*Customer:* thank you, still locked out")
    assert relay.params.get("thread_ts") == thread

    await sender.thread_reply(ANA, QUEUE, thread, "note: reset link sent twice #password")
    await sender.send_command("/sb-note", "CS-000001 customer is on the old plan", user=ANA, channel=QUEUE)
    await sender.thread_reply(ANA, QUEUE, thread, "!resolve")
    survey = await said_to(slack, DM, "How would you rate")
    five = survey.button("5")
    await sender.send_action(CUSTOMER, five["action_id"], five["value"], channel=DM, message_ts=survey.response["ts"])
    await said_to(slack, DM, "Anything you'd like to tell us")

    notes = await runtime(app_client).store.notes(1)
    assert [(n.text, n.tags) for n in notes] == [
        ("reset link sent twice #password", ("password",)),
        ("customer is on the old plan", ()),
    ]
    customer_side = " ".join(texts_to(slack, DM))
    assert "reset link sent twice" not in customer_side and "old plan" not in customer_side
    assert "resolve" not in customer_side.lower().replace("resolved", "")


async def test_retried_deliveries_never_produce_a_second_reply(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]
) -> None:
    event = sender.dm_event(CUSTOMER, "My export is broken", DM)
    first = await sender.send_event(event, event_id="Ev1")
    retry = await sender.send_event(event, event_id="Ev1", retry_num=1, retry_reason="http_timeout")
    assert (first.status, retry.status) == (200, 200)
    await said_to(slack, DM, "could you tell me")
    await asyncio.sleep(0.3)
    assert sum("I've opened case" in t for t in texts_to(slack, DM)) == 1
    assert sum("could you tell me" in t for t in texts_to(slack, DM)) == 1
    counted = await scrape(app_client)  # operators see the retry was dropped
    assert sample(counted, "supportbot_adapter_events_total", adapter="slack", what="duplicate_delivery") == 1
    assert sample(counted, "supportbot_adapter_events_total", adapter="slack", what="recorded_delivery") == 1


async def test_acknowledges_at_once_while_slack_is_slow(sender: SlackSender, slack: FakeSlack) -> None:
    slack.delay("chat.postMessage", 4.0)
    started = time.monotonic()
    response = await sender.dm(CUSTOMER, "I can't log in", channel=DM)
    assert response.status == 200
    assert time.monotonic() - started < 1.0  # Slack's limit is 3 s; the engine and replies run after the ack
    slack.delay("chat.postMessage", 0)


async def test_signatures_and_malformed_requests(sender: SlackSender, app_client: TestClient[Any, Any]) -> None:
    wrong = sender.with_secret("not-the-secret")
    assert (await wrong.dm(CUSTOMER, "hi", channel=DM)).status == 401
    stale = await sender.send_event(sender.dm_event(CUSTOMER, "hi", DM), timestamp=int(time.time()) - 6 * 60)
    assert stale.status == 401
    assert (await sender.send_raw(b'{"type": "event_callback"}', {"Content-Type": "application/json"})).status == 401
    assert (await sender.send_raw(b"{not json", {"Content-Type": "application/json"}, signed=True)).status == 400
    assert (await sender.send_raw(b"[1]", {"Content-Type": "application/json"}, signed=True)).status == 400
    no_id = json.dumps({"type": "event_callback", "event": {"type": "message"}}).encode()
    assert (await sender.send_raw(no_id, {"Content-Type": "application/json"}, signed=True)).status == 400
    assert (await sender.send_raw(b"a=1&b=2", {"Content-Type": "application/x-www-form-urlencoded"}, signed=True)).status == 400
    assert (await sender.send_raw(b"%%%", {"Content-Type": "application/x-www-form-urlencoded"}, signed=True)).status == 400
    assert (await sender.send_raw(b"x", {"Content-Type": "text/plain"}, signed=True)).status == 415
    challenge = await sender.send_url_verification("abc123")
    assert challenge.status == 200 and challenge.json() == {"challenge": "abc123"}
    assert (await app_client.get("/healthz")).status == 200  # the worker lives on


async def test_interactions_the_bot_does_not_use_are_acknowledged_and_junk_refused(
    sender: SlackSender, app_client: TestClient[Any, Any]
) -> None:
    """Without a listener bolt would answer 404, which Slack shows the person as an error."""
    user, team = {"id": CUSTOMER}, {"id": "T1"}
    unused = [
        {"type": "shortcut", "callback_id": "sc", "user": user, "team": team, "trigger_id": "1.2"},
        {"type": "message_action", "callback_id": "ma", "user": user, "team": team, "trigger_id": "1.3",
         "channel": {"id": DM}, "message": {"ts": "1.1", "text": "x"}},
        {"type": "view_submission", "user": user, "team": team,
         "view": {"id": "V1", "type": "modal", "callback_id": "x", "state": {"values": {}}}},
        {"type": "view_closed", "user": user, "team": team, "view": {"id": "V1", "type": "modal", "callback_id": "x"}},
    ]
    for payload in unused:
        assert (await sender.send_payload(payload)).status == 200, payload["type"]
    options = await sender.send_payload({"type": "block_suggestion", "user": user, "action_id": "a", "value": "q"})
    assert (options.status, options.json()) == (200, {"options": []})
    unknown = await sender.send_payload({"type": "something_new"})
    assert unknown.status == 400 and "Unsupported interaction" in unknown.json()["error"]
    for broken in ({"type": "block_actions"}, {"type": "block_actions", "user": user, "actions": "press"},
                   {"type": "block_actions", "user": user, "actions": [{"value": "1"}]}):
        refused = await sender.send_payload(broken)
        assert refused.status == 400 and "needs a list of actions" in refused.json()["error"]
    not_json = await sender.send_raw(b"payload=%7Bnot+json", {"Content-Type": "application/x-www-form-urlencoded"}, signed=True)
    assert not_json.status == 400 and "not valid JSON" in not_json.json()["error"]
    assert await runtime(app_client).store.inbound("slack") == []  # nothing was recorded
    assert (await app_client.get("/healthz")).status == 200


async def test_slacks_rate_limit_notice_is_logged_as_a_warning(
    sender: SlackSender, caplog: pytest.LogCaptureFixture, app_client: TestClient[Any, Any]
) -> None:
    notice = json.dumps({"type": "app_rate_limited", "team_id": "T1", "minute_rate_limited": 1518467820, "api_app_id": "A1"})
    with caplog.at_level(logging.WARNING, logger="adapters.slack"):
        response = await sender.send_raw(notice.encode(), {"Content-Type": "application/json"}, signed=True)
    assert response.status == 200
    warned = [r for r in caplog.records if "rate limiting" in r.getMessage()]
    assert len(warned) == 1 and getattr(warned[0], "team_id") == "T1"
    counted = await scrape(app_client)
    assert sample(counted, "supportbot_adapter_events_total", adapter="slack", what="rate_limited_notice") == 1


async def test_echoes_bots_edits_and_unknown_events_are_ignored(sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]) -> None:
    ignored = [
        sender.dm_event("UBOT", "my own reply", DM),
        {**sender.dm_event("UOTHER", "beep", DM), "bot_id": "BOTHER", "subtype": "bot_message"},
        {**sender.dm_event(CUSTOMER, "edited", DM), "subtype": "message_changed"},
        {**sender.dm_event(CUSTOMER, "", DM), "subtype": "message_deleted"},
        {"type": "reaction_added", "user": CUSTOMER, "reaction": "thumbsup"},
        {"type": "team_join", "user": {"id": "UNEW"}},
        sender.dm_event(CUSTOMER, "   ", DM),
    ]
    for event in ignored:
        assert (await sender.send_event(event)).status == 200
    await sender.send_event({**sender.dm_event(CUSTOMER, "here is a screenshot", DM), "subtype": "file_share", "files": [{"name": "error.png"}]})
    await said_to(slack, DM, "I've opened case CS-000001")
    transcript = await runtime(app_client).store.transcript(f"slack:{DM}")
    assert [e.text for e in transcript if e.sender == "customer"] == ["here is a screenshot\n(shared a file: error.png)"]
    assert await runtime(app_client).store.inbound("slack") == []


async def test_a_waiting_chats_card_gets_the_best_articles_in_its_thread_once(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]
) -> None:
    card = await accepted_chat(sender, slack)  # the card was posted, then updated when Ana accepted
    thread = card.response["ts"]

    def suggestions() -> list[Call]:
        return [c for c in slack.posted(QUEUE) if c.params.get("thread_ts") == thread and "may fit" in str(c.params.get("text"))]

    await slack.wait_for(lambda calls: bool(suggestions()))
    await sender.thread_reply(ANA, QUEUE, thread, "!escalate tier2")  # the card changes again
    await slack.wait_for_call("chat.update", lambda c: c.params.get("ts") == thread and "escalated" in str(c.params.get("text")))
    await asyncio.sleep(0.3)
    [posted] = suggestions()
    assert "Export reports" in str(posted.params["text"]) and "ann@school.org" not in json.dumps(posted.params)
    assert not any("may fit" in t for t in texts_to(slack, DM))  # staff only


async def test_without_a_queue_channel_start_up_warns_where_staff_will_see_chats(
    tmp_path: Path, slack: FakeSlack, aiohttp_client: AiohttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="adapters.slack"):
        await aiohttp_client(slack_app(tmp_path, slack, queue_channel=""))
    assert any("queue_channel is not set" in r.getMessage() for r in caplog.records)


async def test_card_articles_can_be_turned_off(tmp_path: Path, slack: FakeSlack, aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(slack_app(tmp_path, slack, card_articles=False))
    sender = SlackSender(client, SECRET, slack=slack)
    await accepted_chat(sender, slack)
    await asyncio.sleep(0.3)
    assert not any("may fit" in t for t in slack.posted_texts(QUEUE))


async def test_customers_use_commands_with_the_prefix_and_are_told_so(sender: SlackSender, slack: FakeSlack) -> None:
    """Slack refuses a "/new" it does not know before it reaches the bot, so Slack customers type
    "!new", and the bot's lines name its commands that way."""
    await sender.dm(CUSTOMER, "!help", channel=DM)
    shown = await said_to(slack, DM, "!new starts a new case")
    assert "/new" not in str(shown.params["text"]) and "!agent asks for a person" in str(shown.params["text"])
    await sender.dm(CUSTOMER, "My export is broken", channel=DM)
    await said_to(slack, DM, "I've opened case CS-000001")
    await sender.dm(CUSTOMER, "!new", channel=DM)  # a new need, a new case
    await sender.dm(CUSTOMER, "How do I add a co-teacher?", channel=DM)
    await said_to(slack, DM, "CS-000002")
    await sender.dm(CUSTOMER, "!!! it is still broken !!!", channel=DM)  # not a command: words for the case
    await asyncio.sleep(0.3)
    assert sum("!new starts a new case" in t for t in texts_to(slack, DM)) == 1


async def test_help_speaks_slacks_own_command_names(tmp_path: Path, slack: FakeSlack, aiohttp_client: AiohttpClient) -> None:
    """An unknown slash command, and `!help` in a chat's thread, list what works in Slack as the
    team named it (not the agent console's "/resolve")."""
    client = await aiohttp_client(slack_app(tmp_path, slack, command_resolve="/fix", command_prefix="?"))
    sender = SlackSender(client, SECRET, slack=slack)
    unknown = await sender.send_command("/sb-bogus", "hello", user=ANA, channel=QUEUE)
    assert unknown.status == 200
    assert "I don't know the command /sb-bogus" in unknown.text and "`/fix [CS-…]`" in unknown.text
    assert "?resolve" in unknown.text and "`note: <text> #tags`" in unknown.text
    card = await accepted_chat(sender, slack)
    await sender.thread_reply(ANA, QUEUE, card.response["ts"], "?help")
    shown = await slack.wait_for_call("chat.postEphemeral", lambda c: "What you can do here" in str(c.params.get("text")))
    assert shown.params["user"] == ANA and "`/sb-kb [words]`" in str(shown.params["text"])
    await asyncio.sleep(0.3)
    assert not any("?help" in t or "What you can do" in t for t in texts_to(slack, DM))  # nothing reached the customer


async def test_other_bots_and_mentions_follow_the_settings(tmp_path: Path, slack: FakeSlack, aiohttp_client: AiohttpClient) -> None:
    """`allow_bots = true` answers another bot's DM (never the bot's own echo); `customer_mentions =
    false` leaves mentions in shared channels alone."""
    client = await aiohttp_client(slack_app(tmp_path, slack, allow_bots=True, customer_mentions=False))
    sender = SlackSender(client, SECRET, slack=slack)
    other_bot = {**sender.dm_event("UOTHER", "My export is broken", "DOTHER"), "bot_id": "BOTHER", "subtype": "bot_message"}
    assert (await sender.send_event(other_bot)).status == 200
    await said_to(slack, "DOTHER", "I've opened case CS-000001")
    assert (await sender.send_event(sender.dm_event("UBOT", "my own reply", "DOTHER"))).status == 200
    # the bot's own post as Slack echoes it, with ids auth.test did not give (it may have failed at
    # start-up): the app id of the delivery still says it is ours, so the bot never talks to itself
    echo = {**sender.dm_event("UOTHERBOTUSER", "I've opened case CS-000009", "DOTHER"), "bot_id": "BNEW", "app_id": APP_ID,
            "bot_profile": {"id": "BNEW", "app_id": APP_ID}}
    assert (await sender.send_event(echo)).status == 200
    assert (await sender.mention(CUSTOMER, "CSHARED", "<@UBOT> the gradebook won't load")).status == 200
    await asyncio.sleep(0.3)  # time for any reply
    assert texts_to(slack, "CSHARED") == []
    transcript = await client.app[RUNTIME].store.transcript("slack:DOTHER")
    assert [e.text for e in transcript if e.sender == "customer"] == ["My export is broken"]


async def test_rate_limits_are_waited_out_without_double_posting(sender: SlackSender, slack: FakeSlack) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after=0)
    await sender.dm(CUSTOMER, "My export is broken", channel=DM)
    await said_to(slack, DM, "could you tell me")
    assert [a.status for a in slack.attempts_to("chat.postMessage")][:2] == [429, 200]
    assert sum("I've opened case" in t for t in texts_to(slack, DM)) == 1


async def test_failed_posts_stay_in_the_outbox_and_are_retried(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail("chat.postMessage", times=1, status=500)
    slack.fail("chat.postMessage", times=1, status=200, error="not_in_channel")  # e.g. the bot not invited yet
    with caplog.at_level(logging.WARNING, logger="bot.runtime"):
        await sender.dm(CUSTOMER, "My export is broken", channel=DM)
        await said_to(slack, DM, "could you tell me", timeout=10)
    warned = [r for r in caplog.records if r.getMessage() == "delivery failed; retrying"]
    assert [getattr(r, "attempts") for r in warned] == [1, 2] and "not_in_channel" in getattr(warned[1], "error")
    opened = [t for t in texts_to(slack, DM) if "I've opened case" in t]
    assert len(opened) == 1
    counted = await scrape(app_client)
    assert sample(counted, "supportbot_deliveries_retried_total", adapter="slack") == 2
    assert sample(counted, "supportbot_deliveries_total", adapter="slack") >= 1
    said = "\n".join(texts_to(slack, DM))
    assert said.index("I've opened case") < said.index("could you tell me")


async def accepted_chat(sender: SlackSender, slack: FakeSlack) -> Call:
    """The customer asks for a person and Ana accepts; returns the chat's queue card (its thread is the chat)."""
    await sender.send_command("/sb-status", "available", user=ANA, channel=QUEUE)
    await sender.dm(CUSTOMER, f"My export is broken. {DETAILS}", channel=DM)
    offer = await said_to(slack, DM, "Export reports")
    more = offer.button("I still need help")
    await sender.send_action(CUSTOMER, more["action_id"], more["value"], channel=DM)
    card = await queue_card(slack)
    await sender.send_action(ANA, "case.accept", card.button("Accept")["value"], channel=QUEUE)
    await said_to(slack, DM, "Ana has joined")
    return card


async def test_retried_thread_messages_never_produce_a_second_note_or_relay(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]
) -> None:
    thread = (await accepted_chat(sender, slack)).response["ts"]
    note = sender.thread_reply_event(ANA, QUEUE, thread, "note: export fails on large classes #export")
    said = sender.thread_reply_event(ANA, QUEUE, thread, "Which class are you exporting?")
    for event, event_id in ((note, "EvNOTE"), (said, "EvSAID")):
        assert (await sender.send_event(event, event_id=event_id)).status == 200
        assert (await sender.send_event(event, event_id=event_id, retry_num=1, retry_reason="http_timeout")).status == 200
    await said_to(slack, DM, "*Ana:* Which class are you exporting?")
    await asyncio.sleep(0.3)  # time for any second relay
    assert sum("Which class" in t for t in texts_to(slack, DM)) == 1
    notes = await runtime(app_client).store.notes(1)
    assert [n.text for n in notes] == ["export fails on large classes #export"]


async def test_waiting_times_on_queue_cards_tick_and_a_rate_limit_ends_the_round(
    tmp_path: Path, slack: FakeSlack, aiohttp_client: AiohttpClient
) -> None:
    clock = FakeClock()
    client = await aiohttp_client(slack_app(tmp_path, slack, clock=clock))
    sender = SlackSender(client, SECRET, slack=slack)
    adapter = client.app[RUNTIME].outlets["slack"]
    assert isinstance(adapter, SlackAdapter)
    await sender.send_command("/sb-status", "available", user=ANA, channel=QUEUE)  # someone to queue for
    for n, user in enumerate(("UCUST1", "UCUST2")):
        await sender.dm(user, f"My export is broken. {DETAILS}", channel=f"D{n}")
        offer = await said_to(slack, f"D{n}", "Export reports")
        more = offer.button("I still need help")
        await sender.send_action(user, more["action_id"], more["value"], channel=f"D{n}")
        await slack.wait_for_call("chat.postMessage", lambda c: c.params.get("channel") == QUEUE and "Accept" in json.dumps(c.params)
                                  and f"CS-00000{n + 1}" in str(c.params.get("text")))
        clock.advance(60)

    clock.advance(120)
    slack.clear()
    assert await adapter.cards.refresh_waiting() == 2
    updates = sorted(str(c.params["text"]) for c in slack.calls_to("chat.update"))
    assert updates == ["CS-000001 · queued · waiting 4 min", "CS-000002 · queued · waiting 3 min"]
    assert await adapter.cards.refresh_waiting() == 0  # the same minute: nothing to update

    clock.advance(60)
    slack.rate_limit("chat.update", times=1, retry_after=30)
    assert await adapter.cards.refresh_waiting() == 0  # the longest-waiting card was refused: the rest wait for the next minute
    assert await adapter.cards.refresh_waiting() == 2


def test_long_text_without_spaces_is_never_cut_inside_an_escaped_character() -> None:
    text = escape("<a&b>" * 400)  # 2,000 characters, 8,000 once escaped, no line breaks or spaces
    chunks = split_text(text, 157)  # not a multiple of the 15-character "&lt;a&amp;b&gt;"
    assert "".join(chunks) == text and all(len(c) <= 157 for c in chunks)
    assert all(re.fullmatch(r"(?:[^&]|&(?:amp|lt|gt);)*", c) for c in chunks)


def test_the_pacer_allows_a_short_burst_per_channel_and_forgets_quiet_channels() -> None:
    pacer = ChannelPacer(1.0, burst=3)
    assert [pacer.wait_for("D1", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.wait_for("D1", 0.0) == 1.0  # the fourth waits a second
    assert pacer.wait_for("D2", 0.0) == 0.0  # other channels are not held back
    assert pacer.wait_for("D1", 1.0) == 0.0
    for n in range(2 * ChannelPacer.PRUNE_EVERY):  # one message each to many customers' DMs
        pacer.wait_for(f"DNEW{n}", 2.0)
    assert len(pacer) > ChannelPacer.PRUNE_EVERY
    for n in range(ChannelPacer.PRUNE_EVERY):  # later, once their buckets have refilled
        pacer.wait_for(f"DLATER{n}", 10.0)
    assert len(pacer) <= ChannelPacer.PRUNE_EVERY  # the quiet channels were forgotten
    assert [pacer.wait_for("D1", 10.0) for _ in range(3)] == [0.0, 0.0, 0.0]  # forgotten means a full burst


async def test_long_text_is_split_at_slacks_limits(sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]) -> None:
    card = await accepted_chat(sender, slack)
    long_reply = ("Step " + "x" * 60 + "\n") * 55  # about 3,600 characters: over Slack's 3,000 per block
    await sender.thread_reply(ANA, QUEUE, card.response["ts"], long_reply.strip())
    await slack.wait_for(lambda calls: sum(1 for c in calls if c.method == "chat.postMessage" and c.params.get("channel") == DM and "Step" in str(c.params.get("text"))) >= 2)
    parts = [t for t in texts_to(slack, DM) if "Step" in t]
    assert all(len(p) <= 3000 for p in parts)
    assert "".join(parts).count("Step") == 55


async def test_commands_check_the_callers_role(sender: SlackSender, slack: FakeSlack) -> None:
    refused = await sender.send_command("/sb-resolve", "CS-000001", user=CUSTOMER, channel=QUEUE)
    assert refused.status == 200 and "Only support staff" in refused.text
    await sender.send_command("/sb-case", "", user=ANA, channel=QUEUE)
    await slack.wait_for_call("chat.postEphemeral", lambda c: "Which case?" in str(c.params.get("text")) and c.params.get("user") == ANA)
    await sender.send_command("/sb-case", "cs-999999", user=ANA, channel=QUEUE)
    await slack.wait_for_call("chat.postEphemeral", lambda c: "There is no case CS-999999." == c.params.get("text"))
    await sender.send_command("/sb-status", "sideways", user=ANA, channel=QUEUE)
    # the engine's "/status" is named as Slack takes it
    await slack.wait_for_call("chat.postEphemeral", lambda c: c.params.get("text") == "Use /sb-status available or /sb-status away.")
    await sender.send_action(CUSTOMER, "case.accept", "1", channel=QUEUE)
    await slack.wait_for_call("chat.postEphemeral", lambda c: "Only support staff can accept" in str(c.params.get("text")))


async def test_mentions_in_a_shared_channel_get_threaded_replies(sender: SlackSender, slack: FakeSlack) -> None:
    response = await sender.mention(CUSTOMER, "CSHARED", "<@UBOT> the gradebook won't load", ts="1700000000.000500")
    assert response.status == 200
    reply = await said_to(slack, "CSHARED", "I've opened case CS-000001")
    assert reply.params.get("thread_ts") == "1700000000.000500"


async def test_replies_in_a_mention_thread_need_no_mention_and_are_answered_once(sender: SlackSender, slack: FakeSlack) -> None:
    thread = "1700000000.000600"
    await sender.mention(CUSTOMER, "CSHARED", "<@UBOT> the gradebook won't load", ts=thread)
    await said_to(slack, "CSHARED", "I've opened case CS-000001")
    reply = sender.thread_reply_event(CUSTOMER, "CSHARED", thread, "user ID 48213, Chrome, the error says 'Timeout'")
    await sender.send_event({**reply, "channel_type": "channel"})
    answered = await said_to(slack, "CSHARED", "TK-000001")  # nobody on duty: the details went into a ticket
    assert answered.params.get("thread_ts") == thread
    # a reply that mentions the bot comes twice, as a message and as an app_mention: answered once
    mentioned = sender.thread_reply_event(CUSTOMER, "CSHARED", thread, "<@UBOT> skip", ts="1700000000.000700")
    await sender.send_event({**mentioned, "channel_type": "channel"})
    await sender.send_event({**mentioned, "type": "app_mention"})
    # staff joining the customer's thread are not the customer; elsewhere in the channel people talk among themselves
    await sender.send_event({**sender.thread_reply_event(ANA, "CSHARED", thread, "I'll take a look"), "channel_type": "channel"})
    await sender.send_event({**sender.thread_reply_event("UOTHER", "CSHARED", "1600000000.000100", "lunch?"), "channel_type": "channel"})
    await asyncio.sleep(0.4)
    said = texts_to(slack, "CSHARED")
    assert len(said) == 3, said  # the case opened; the ticket taken; one answer to "skip"


async def test_a_first_message_is_answered_in_one_post(sender: SlackSender, slack: FakeSlack) -> None:
    """Greeting, case number and the intake question arrive as one message: one notification. The
    greeting promises no case right before the case is opened."""
    await sender.dm(CUSTOMER, "I forgot my password", channel=DM)
    reply = await said_to(slack, DM, "I've opened case CS-000001")
    assert "could you tell me" in str(reply.params["text"])
    assert str(reply.params["text"]).startswith("Hi! I'm the support assistant. Tell me what you need help with.\n\nI've opened case")
    await asyncio.sleep(0.3)
    assert len(texts_to(slack, DM)) == 1


async def test_the_customer_name_comes_from_the_event_profile(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]
) -> None:
    await sender.dm(CUSTOMER, "I forgot my password", channel=DM, user_profile={"display_name": "", "real_name": "Jo Bloggs"})
    await said_to(slack, DM, "CS-000001")

    conversation = await runtime(app_client).store.conversation(f"slack:{DM}")
    case = await runtime(app_client).store.case(1)
    assert conversation is not None and conversation.customer_name == "Jo"
    assert case is not None and case.customer_name == "Jo"
    assert not slack.calls_to("users.info")  # nothing to look up


async def test_a_name_missing_from_the_event_is_looked_up_when_a_person_takes_over(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]
) -> None:
    slack.set_user(CUSTOMER, real_name="Ada Lovelace", display_name="")
    await sender.send_command("/sb-status", "available", user=ANA, channel=QUEUE)
    await sender.dm(CUSTOMER, "I forgot my password", channel=DM)
    await sender.dm(CUSTOMER, DETAILS, channel=DM)
    offer = await said_to(slack, DM, "Reset a forgotten password")
    assert not slack.calls_to("users.info")  # the bot's own lines never use the name

    more = offer.button("I still need help")
    await sender.send_action(CUSTOMER, more["action_id"], more["value"], channel=DM, message_ts=offer.response["ts"])
    await queue_card(slack)
    store = runtime(app_client).store
    deadline = time.monotonic() + 5
    case = await store.case(1)
    while time.monotonic() < deadline and not (case and case.customer_name):
        await asyncio.sleep(0.02)
        case = await store.case(1)
    conversation = await store.conversation(f"slack:{DM}")
    assert case is not None and case.customer_name == "Ada"
    assert conversation is not None and conversation.customer_name == "Ada"
    assert len(slack.calls_to("users.info")) == 1


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, False),  # no way in
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, True),  # events over HTTP
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, True),  # Socket Mode only
        ({"SLACK_SIGNING_SECRET": "s", "SLACK_APP_TOKEN": "xapp-1"}, False),  # nothing to answer with
    ],
)
def test_slack_is_on_with_a_bot_token_and_a_way_in(environ: dict[str, str], on: bool, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="adapters.slack_credentials"):
        assert (SlackCredentials.from_environment(environ) is not None) is on
    half_set_up = bool(environ) and not on  # some variables but not enough: the log says which is missing
    assert any("slack stays off" in r.getMessage() for r in caplog.records) is half_set_up


def test_the_manifest_declares_every_configured_slash_command() -> None:
    """Install in one paste: a command missing from the manifest would never reach the bot."""
    import dataclasses

    import yaml

    from adapters.slack_settings import SlackSettings

    manifest = yaml.safe_load((Path(__file__).parent.parent / "adapters" / "slack_manifest.yml").read_text())
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    configured = {str(f.default) for f in dataclasses.fields(SlackSettings) if f.name.startswith("command_") and f.name != "command_prefix"}
    assert declared == configured


async def test_what_people_type_is_read_back_from_slacks_markup(sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]) -> None:
    """Slack sends emails and links wrapped (`<mailto:jo@x.org|jo@x.org>`) and &, <, > escaped: the
    intake stores what the customer typed, as web chat would, and an agent's "<" reaches the
    customer as "<", not as "&lt;"."""
    typed = "I went to app.example.com then clicked Save, email jo@x.org, user ID 48213, Chrome, it says 'Timeout'"
    as_slack_sends = ("I went to <http://app.example.com|app.example.com> then clicked Save, email <mailto:jo@x.org|jo@x.org>, "
                      "user ID 48213, Chrome, it says 'Timeout'")
    await sender.send_command("/sb-status", "available", user=ANA, channel=QUEUE)
    await sender.dm(CUSTOMER, as_slack_sends, channel=DM)
    await said_to(slack, DM, "number 1 in the queue")  # nothing left to ask, no article fits
    case = await runtime(app_client).store.case(1)
    assert case is not None and case.details == parse_details(typed) and case.problem == typed
    assert not any("<" in value or "mailto" in value for value in case.details.values())

    card = await queue_card(slack)
    await sender.send_action(ANA, "case.accept", "1", channel=QUEUE)
    await sender.thread_reply(ANA, QUEUE, card.response["ts"], "Pick a size &lt; 10 MB &amp; see <https://help.example.com/export|this article>")
    shown = await said_to(slack, DM, "*Ana:*")
    assert shown.params["text"] == "*Ana:* Pick a size &lt; 10 MB &amp; see this article (https://help.example.com/export)"
