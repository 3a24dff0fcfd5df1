"""SME consults end to end: through the web agent console, and through Slack (local fake Web API).

Whatever platform the consult runs on, nothing of it reaches the customer.
"""

from __future__ import annotations

import asyncio
import json
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
from bot.config import Settings
from bot.store.sqlite import SQLiteStore
from tests.fake_slack import Call, FakeSlack, SlackSender
from tests.harness import DEFAULT_ARTICLES, KeywordFinder
from tests.staff import bearer

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
DETAILS = "user ID 48213, Chrome, ann@school.org, the error says 'Invalid password', steps: I typed it twice"
SECRET = "consult-secret"
QUEUE, SME_CHANNEL, DM = "CQUEUE", "CSME", "DCUST"
ANA, SAM, CUSTOMER = "UANA", "USAM", "UCUST"
CONSULT_WORDS = ("SME", "expert", "Sam", "Subject", "locked out since the migration", "claim")


def settings(tmp_path: Path) -> Settings:
    return build_settings(
        {
            "server": {"timer_poll_interval": "0.05s"},
            "business_hours": {"open": "00:00", "close": "24:00"},
            "slack": {"queue_channel": QUEUE, "channel_pace": "0s"},
            "sme_groups": [{"name": "accounts", "classifications": ["Accounts and sign-in"], "members": ["sam"], "slack_channel": SME_CHANNEL}],
            "roster": [
                {"id": "ana", "name": "Ana", "role": "agent", "slack": ANA},
                {"id": "sam", "name": "Sam", "role": "sme", "slack": SAM},
                {"id": "maya", "name": "Maya", "role": "manager", "on_duty": True},
            ],
        }
    )


async def frames_until(socket: Any, wanted: Callable[[dict[str, Any]], bool], limit: int = 40) -> dict[str, Any]:
    for _ in range(limit):
        frame: dict[str, Any] = await socket.receive_json(timeout=5)
        if wanted(frame):
            return frame
    raise AssertionError("the expected console frame never came")


@pytest.fixture
async def web_client(tmp_path: Path, aiohttp_client: AiohttpClient) -> TestClient[Any, Any]:
    app = create_app(
        settings(tmp_path),
        clock=SystemClock(),
        store=SQLiteStore(tmp_path / "web.db"),
        articles=KeywordFinder(dict(DEFAULT_ARTICLES)),
    )
    return await aiohttp_client(app)


async def test_a_consult_through_the_web_console_never_reaches_the_customer(web_client: TestClient[Any, Any]) -> None:
    client = web_client
    store = client.app[RUNTIME].store
    as_ana, as_sam = await bearer(store, "ana"), await bearer(store, "sam")
    roster = await (await client.get("/api/agent/roster", headers=as_ana)).json()
    assert roster["consult"]["classifications"] == ["Accounts and sign-in"]

    async with client.ws_connect("/api/agent/ws", headers=as_ana) as ana, client.ws_connect("/api/agent/ws", headers=as_sam) as sam:
        await frames_until(ana, lambda f: f["type"] == "state")
        await frames_until(sam, lambda f: f["type"] == "state")
        await ana.send_json({"type": "command", "command": "status", "text": "available"})
        await frames_until(ana, lambda f: f["type"] == "notice" and "available" in f["text"])

        opened = await (await client.post("/api/conversations", json={"name": "Jo"})).json()
        auth = {"Authorization": f"Bearer {opened['token']}"}
        path = f"/api/conversations/{opened['id']}/messages"
        await client.post(path, json={"text": f"I forgot my password. {DETAILS}"}, headers=auth)
        offer = (await (await client.get(path, headers=auth)).json())["messages"][-1]
        more = next(b for b in offer["buttons"] if b["label"] == "I still need help")
        await client.post(path, json={"action": {"id": more["id"], "value": more["value"]}}, headers=auth)
        state = await frames_until(ana, lambda f: f["type"] == "state" and f["waiting"])
        case_id = state["waiting"][0]["id"]
        await ana.send_json({"type": "command", "command": "accept", "case_id": case_id})

        fields = {"classification": "Accounts and sign-in", "notes": "Customer locked out since the migration; reset fails", "OJT class": "3"}
        await ana.send_json({"type": "command", "command": "sme", "case_id": case_id, "fields": fields})
        new = await frames_until(sam, lambda f: f["type"] == "notice" and f["kind"] == "consult_new")
        assert "locked out since the migration" in new["text"] and "OJT class: 3" in new["text"] and "CS-000001" in new["text"]
        suggestion = await frames_until(ana, lambda f: f["type"] == "notice" and f["kind"] == "hold_suggestion")
        assert "Jo" in suggestion["text"]
        sam_state = await frames_until(sam, lambda f: f["type"] == "state" and f["consults"])
        assert sam_state["consults"][0]["state"] == "waiting"

        await sam.send_json({"type": "command", "command": "claim", "case_id": case_id})
        await frames_until(ana, lambda f: f["type"] == "notice" and f["kind"] == "consult_claimed")
        await ana.send_json({"type": "command", "command": "hold", "case_id": case_id})
        await ana.send_json({"type": "command", "command": "consult", "case_id": case_id, "text": "Is the migration lock expected?"})
        await sam.send_json({"type": "command", "command": "consult", "case_id": case_id, "text": "Yes: clear it under Settings > Security"})
        await ana.send_json({"type": "command", "command": "say", "case_id": case_id, "text": "Please open Settings > Security and press Unlock."})
        await sam.send_json({"type": "command", "command": "endconsult", "case_id": case_id})
        await frames_until(ana, lambda f: f["type"] == "notice" and f["kind"] == "consult_message" and "glad I was able" in f["text"])

        detail = await (await client.get(f"/api/agent/cases/{case_id}", headers=as_ana)).json()
        consult = detail["consults"][0]
        assert consult["state"] == "ended" and consult["end_reason"] == "answered" and consult["sme"] == "Sam"
        lines = [m["text"] for m in consult["messages"]]
        assert lines[1].startswith("Thank you for contacting the SME Support Chat, my name is Sam")
        assert "Is the migration lock expected?" in lines and lines[-1].startswith("I am glad I was able to assist you")
        sme_view = await (await client.get(f"/api/agent/cases/{case_id}", headers=as_sam)).json()
        assert sme_view["transcript"] == [] and sme_view["consults"][0]["messages"]

    customer = [m["text"] for m in (await (await client.get(path, headers=auth)).json())["messages"]]
    assert any(t.startswith("Thanks for your patience, Jo") for t in customer)
    assert "Please open Settings > Security and press Unlock." in customer
    for word in CONSULT_WORDS:
        assert not any(word in t for t in customer), word


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def slack_client(tmp_path: Path, slack: FakeSlack, aiohttp_client: AiohttpClient) -> TestClient[Any, Any]:
    app = create_app(
        settings(tmp_path),
        clock=SystemClock(),
        store=SQLiteStore(tmp_path / "slack.db"),
        articles=KeywordFinder(dict(DEFAULT_ARTICLES)),
        slack=SlackCredentials("xoxb-test", SECRET, api_url=slack.api_url),
    )
    return await aiohttp_client(app)


def posted(slack: FakeSlack, channel: str, fragment: str) -> Callable[[Call], bool]:
    def match(call: Call) -> bool:
        return call.params.get("channel") == channel and fragment in str(call.params.get("text", ""))

    return match



async def test_a_consult_through_slack_never_reaches_the_customer(slack_client: TestClient[Any, Any], slack: FakeSlack) -> None:
    sender = SlackSender(slack_client, SECRET, slack=slack)
    await sender.send_command("/sb-status", "available", user=ANA, channel=QUEUE)
    await sender.dm(CUSTOMER, f"I forgot my password. {DETAILS}", channel=DM)
    offer = await slack.wait_for_call("chat.postMessage", posted(slack, DM, "help articles"))
    more = offer.button("I still need help")
    await sender.send_action(CUSTOMER, more["action_id"], more["value"], channel=DM)
    card = await slack.wait_for_call("chat.postMessage", posted(slack, QUEUE, "CS-000001"))
    await sender.send_action(ANA, "case.accept", card.button("Accept")["value"], channel=QUEUE)
    await slack.wait_for_call("chat.postMessage", posted(slack, DM, "Ana has joined"))
    case_thread = card.response["ts"]

    await sender.thread_reply(ANA, QUEUE, case_thread, "!sme Accounts and sign-in | Customer locked out since the migration | OJT class: 3")
    consult_card = await slack.wait_for_call("chat.postMessage", posted(slack, SME_CHANNEL, "Consult CS-000001/1"))
    assert "locked out since the migration" in json.dumps(consult_card.params["blocks"])
    await sender.thread_reply(ANA, QUEUE, case_thread, "!hold")
    await slack.wait_for_call("chat.postMessage", posted(slack, DM, "Thanks for your patience"))

    claim = consult_card.button("Claim")
    await sender.send_action(SAM, claim["action_id"], claim["value"], channel=SME_CHANNEL)
    consult_thread = consult_card.response["ts"]
    await slack.wait_for_call("chat.update", lambda c: c.params.get("ts") == consult_thread and "claimed by Sam" in str(c.params.get("text")))
    opening = await slack.wait_for_call("chat.postMessage", posted(slack, SME_CHANNEL, "my name is Sam"))
    assert opening.params.get("thread_ts") == consult_thread

    await sender.thread_reply(SAM, SME_CHANNEL, consult_thread, "!help")  # to Sam alone, in the consult's channel
    shown = await slack.wait_for_call("chat.postEphemeral", lambda c: "In a consult's thread" in str(c.params.get("text")))
    assert (shown.params["channel"], shown.params["user"]) == (SME_CHANNEL, SAM)
    await sender.thread_reply(ANA, SME_CHANNEL, consult_thread, "Is the migration lock expected? Also can you approve a credit?")
    await slack.wait_for_call("chat.postMessage", posted(slack, SME_CHANNEL, "credit policy"))
    await sender.thread_reply(SAM, SME_CHANNEL, consult_thread, "Yes: clear it under Settings > Security")
    await sender.thread_reply(SAM, SME_CHANNEL, consult_thread, "!endconsult")
    await slack.wait_for_call("chat.postMessage", posted(slack, SME_CHANNEL, "glad I was able to assist"))
    await asyncio.sleep(0.2)

    thread_texts = [str(c.params.get("text")) for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == SME_CHANNEL]
    assert not any("Is the migration lock expected" in t for t in thread_texts)  # typed in the thread: never echoed
    store = slack_client.app[RUNTIME].store
    lines = [m["text"] for m in await store.records("consult_messages", 1)]
    assert "Is the migration lock expected? Also can you approve a credit?" in lines
    assert "Yes: clear it under Settings > Security" in lines
    customer = [str(c.params.get("text")) for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == DM]
    for word in CONSULT_WORDS:
        assert not any(word in t for t in customer), word
