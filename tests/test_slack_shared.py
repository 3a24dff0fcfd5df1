"""A chat started by mentioning the bot in a shared channel lives in a thread everyone reads: only
the person who started it is the customer (others reach the agent under their own names), and
personal details are asked for in a DM, whose answers join the chat. Signed deliveries into the
real app; Slack is the local fake (tests/fake_slack.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.server import RUNTIME
from tests.fake_slack import FakeSlack, SlackSender
from tests.slack_team import ANA, CUSTOMER, DM, QUEUE, SECRET, SHARED, posts_in_thread, said, shown_to, team_app

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
THREAD = "1700000000.000900"
CONVERSATION = f"slack:{SHARED}:{THREAD}"
JO = "UJO"
PRIVATE = "user ID 48213, Chrome, ann@school.org, the error says 'Timeout', steps: I opened the gradebook"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def app_client(tmp_path: Path, slack: FakeSlack, aiohttp_client: AiohttpClient) -> TestClient[Any, Any]:
    return await aiohttp_client(team_app(tmp_path, slack))


@pytest.fixture
def sender(app_client: TestClient[Any, Any], slack: FakeSlack) -> SlackSender:
    return SlackSender(app_client, SECRET, slack=slack)


async def in_thread(sender: SlackSender, user: str, text: str) -> None:
    await sender.send_event({**sender.thread_reply_event(user, SHARED, THREAD, text), "channel_type": "channel"})


async def test_personal_details_are_asked_for_privately_and_the_answer_joins_the_chat(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]
) -> None:
    await sender.send_command("/sb-status", "available", user=ANA, channel=QUEUE)
    await sender.mention(CUSTOMER, SHARED, "<@UBOT> the gradebook won't load", ts=THREAD)
    opened = str((await said(slack, SHARED, "I've opened case CS-000001", thread=THREAD)).params["text"])
    assert "I've sent you a direct message to ask for the details" in opened
    assert "could you tell me" not in opened and "user ID" not in opened and "email" not in opened
    asked = str((await said(slack, DM, "could you tell me")).params["text"])
    assert asked.startswith(f"About case CS-000001 in <#{SHARED}>:") and "the email address used" in asked

    await sender.dm(CUSTOMER, PRIVATE, channel=DM)  # answered in the DM, where nobody else reads
    await said(slack, DM, "Thanks, that's with case CS-000001 now.")
    await said(slack, SHARED, "number 1 in the queue", thread=THREAD)  # no article fits: a person it is
    store = app_client.app[RUNTIME].store
    case = await store.case(1)
    assert case is not None and case.details["email"] == "ann@school.org" and case.details["account_id"] == "user ID 48213"
    assert [e.text for e in await store.transcript(CONVERSATION) if e.sender == "customer"] == ["the gradebook won't load", PRIVATE]
    assert await store.conversation(f"slack:{DM}") is None  # the answer opened no chat of its own
    assert not any("48213" in t or "ann@" in t for t in slack.posted_texts(SHARED))


async def test_only_the_person_who_started_the_chat_is_the_customer(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]
) -> None:
    slack.set_user(JO, real_name="Jo Park", display_name="")
    await sender.send_command("/sb-status", "available", user=ANA, channel=QUEUE)
    await sender.mention(CUSTOMER, SHARED, "<@UBOT> the gradebook won't load", ts=THREAD)
    await said(slack, SHARED, "I've opened case CS-000001", thread=THREAD)
    await in_thread(sender, CUSTOMER, PRIVATE)  # their own choice to answer in public
    card = await said(slack, QUEUE, "CS-000001 · queued")
    await sender.send_action(ANA, "case.accept", "1", channel=QUEUE, message_ts=card.response["ts"])
    await said(slack, SHARED, "Ana has joined", thread=THREAD)
    case_thread = str(card.response["ts"])

    await in_thread(sender, JO, "I have the same problem, my email is jo@school.org")
    relayed = await said(slack, QUEUE, "*Jo (not the customer):* I have the same problem", thread=case_thread)
    assert "j***@school.org" in relayed.params["text"]  # the queue channel reads Tier I's way
    await sender.send_event({**sender.mention_event(JO, SHARED, "<@UBOT> can you help me too?"), "thread_ts": THREAD})
    await shown_to(slack, JO, "This thread is someone else's chat with support")
    await in_thread(sender, CUSTOMER, "still nothing loads")
    await said(slack, QUEUE, "*Customer:* still nothing loads", thread=case_thread)

    await asyncio.sleep(0.2)
    said_by_customer = [e.text for e in await app_client.app[RUNTIME].store.transcript(CONVERSATION) if e.sender == "customer"]
    assert said_by_customer == ["the gradebook won't load", PRIVATE, "still nothing loads"]
    assert not any("*Customer:* I have the same problem" in t for t in posts_in_thread(slack, QUEUE, case_thread))
    assert await app_client.app[RUNTIME].store.case(2) is None  # nobody else's words opened a case
