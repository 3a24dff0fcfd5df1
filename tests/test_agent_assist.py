"""Agent assist: the shipped help articles, agent-only ones included, for agents on the console and in Slack."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.assist import AgentAssist, QueryError
from adapters.server import ARTICLES, RUNTIME, create_app
from adapters.slack_credentials import SlackCredentials
from bot.clock import FakeClock
from adapters.settings import build_settings
from bot.store.sqlite import SQLiteStore
from knowledge.index import KnowledgeBase
from tests.fake_slack import FakeSlack, SlackSender
from tests.harness import ROSTER
from tests.staff import bearer

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
SECRET = "assist-signing-secret"
ANA, CUSTOMER, DM, QUEUE = "UANA", "UCUST", "DCUST", "CQUEUE"
DETAILS = "user ID 48213, Chrome, ann@school.org, the error says 'Payment failed', steps: I paid once"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.from_folder(ARTICLES, reload_interval=None)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def client(tmp_path: Path, kb: KnowledgeBase, slack: FakeSlack, aiohttp_client: AiohttpClient) -> TestClient[Any, Any]:
    roster = [dict(entry, slack=ANA) if entry["id"] == "ana" else entry for entry in ROSTER]
    settings = build_settings(
        {"roster": roster, "business_hours": {"open": "00:00", "close": "24:00"}, "slack": {"queue_channel": QUEUE, "channel_pace": "0s"}}
    )
    app = create_app(
        settings,
        clock=FakeClock(),
        store=SQLiteStore(tmp_path / "assist.db"),
        articles=kb,
        background=True,
        slack=SlackCredentials("xoxb-test", SECRET, api_url=slack.api_url),
    )
    return await aiohttp_client(app)


async def test_agents_get_agent_only_articles_and_no_threshold(kb: KnowledgeBase) -> None:
    found = await AgentAssist(kb).search("refund")

    assert [(s.id, s.agent_only) for s in found[:2]] == [("agent-refund-procedure", True), ("refund-request", False)]
    assert kb.suggest("refund") == [] or all(h.article.audience == "customer" for h in kb.suggest("refund"))


async def test_empty_or_oversized_searches_are_refused_with_a_reason(kb: KnowledgeBase) -> None:
    assist = AgentAssist(kb)
    with pytest.raises(QueryError, match="Add the words"):
        await assist.search("  \n ")
    with pytest.raises(QueryError, match="at most 1000 characters"):
        await assist.search("refund " * 200)
    assert await AgentAssist(None).search("refund") == []  # no knowledge base: nothing, no error


async def test_the_console_shows_articles_for_the_customers_last_message(client: TestClient[Any, Any]) -> None:
    opened = await (await client.post("/api/conversations", json={})).json()
    auth = {"Authorization": f"Bearer {opened['token']}"}
    path = f"/api/conversations/{opened['id']}/messages"
    assert (await client.post(path, json={"text": "Our school's site is down for everyone, is there an outage?"}, headers=auth)).status == 202

    detail = await (await client.get("/api/agent/cases/1", headers=await bearer(client.app[RUNTIME].store, "ana"))).json()

    assert detail["articles"][0]["id"] == "agent-escalate-incident" and detail["articles"][0]["agent_only"] is True
    assert {"title", "summary", "url", "confidence"} <= set(detail["articles"][0])


async def test_the_console_search_box(client: TestClient[Any, Any]) -> None:
    ana = await bearer(client.app[RUNTIME].store, "ana")
    answer = await client.get("/api/agent/articles", params={"q": "customer wants their money back, a refund"}, headers=ana)
    assert answer.status == 200
    assert "agent-refund-procedure" in [a["id"] for a in (await answer.json())["articles"]]

    # agent-only articles are for signed-in staff: nobody else, whatever they claim to be
    assert (await client.get("/api/agent/articles", params={"staff": "ana", "q": "refund"})).status == 401
    empty = await client.get("/api/agent/articles", params={"q": " "}, headers=ana)
    assert empty.status == 400 and "Add the words" in (await empty.json())["error"]
    assert (await client.get("/api/agent/articles", params={"q": "x" * 5000}, headers=ana)).status == 400


async def test_slack_kb_command_answers_the_agent_alone(client: TestClient[Any, Any], slack: FakeSlack) -> None:
    sender = SlackSender(client, SECRET, slack=slack)

    answer = await sender.send_command("/sb-kb", "how do I issue a refund", user=ANA, channel=QUEUE)

    body = json.loads(answer.text)
    assert answer.status == 200 and body.get("response_type", "ephemeral") == "ephemeral"
    assert "Internal: issue a refund" in body["text"] and "agents only" in body["text"]
    assert slack.calls_to("chat.postMessage") == []  # nothing posted for the channel to see

    refused = await sender.send_command("/sb-kb", "refund", user=CUSTOMER, channel=DM)
    assert "Only support staff" in refused.text
    too_long = await sender.send_command("/sb-kb", "refund " * 200, user=ANA, channel=QUEUE)
    assert "at most 1000 characters" in too_long.text


async def test_slack_kb_without_words_uses_the_open_chat_and_masks_what_tier_one_may_not_see(
    client: TestClient[Any, Any], slack: FakeSlack
) -> None:
    sender = SlackSender(client, SECRET, slack=slack)
    nothing_open = await sender.send_command("/sb-kb", "", user=ANA, channel=QUEUE)
    assert "no single open chat" in nothing_open.text

    await sender.send_command("/sb-status", "available", user=ANA, channel=QUEUE)
    await sender.dm(CUSTOMER, f"I was charged twice, please refund me. {DETAILS}", channel=DM)
    offer = await slack.wait_for_call("chat.postMessage", lambda c: c.params.get("channel") == DM and "I still need help" in json.dumps(c.params))
    more = offer.button("I still need help")
    await sender.send_action(CUSTOMER, more["action_id"], more["value"], channel=DM, message_ts=offer.response["ts"])
    card = await slack.wait_for_call("chat.postMessage", lambda c: c.params.get("channel") == QUEUE and "Accept" in json.dumps(c.params))
    accept = card.button("Accept")
    await sender.send_action(ANA, accept["action_id"], accept["value"], channel=QUEUE, message_ts=card.response["ts"])
    await slack.wait_for_call("chat.postMessage", lambda c: c.params.get("channel") == DM and "Ana has joined" in str(c.params.get("text")))

    answer = (await sender.send_command("/sb-kb", "", user=ANA, channel=QUEUE)).text

    assert "Internal: issue a refund" in answer  # the last words were a button's: the problem is searched
    assert "charged twice" in answer and "ann@school.org" not in answer  # Tier I: masked
    assert "48213" not in answer and "Chrome" not in answer  # searched without the intake's details, as the bot searches

