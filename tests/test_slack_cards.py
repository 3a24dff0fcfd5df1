"""Slack's cards tell the truth and cost no more than they must: a consult's card follows the consult
to its end (and the agent hears of the claim), a Tier II case shows how long it has waited and
alerts like a queued chat, the articles on a card are those the ranking is confident of for the
case's problem, a card is updated only when what it shows changed, and the bot's lines to a
customer (the idle ladder) show in the agent's thread. Signed deliveries into the real app, a fake
clock for the timers; Slack is the local fake (tests/fake_slack.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.assist import Suggestion
from adapters.server import RUNTIME
from adapters.slack import SlackAdapter
from adapters.slack_blocks import card_articles
from bot.clock import FakeClock
from tests.fake_slack import FakeSlack, SlackSender
from tests.harness import FakeArticle, FakeHit
from tests.slack_team import (
    ANA, CLASSIFICATION, CUSTOMER, DETAILS, DM, MAYA, QUEUE, SAM, SECRET, SME_CHANNEL, TARA, chat_with_ana, posts_in_thread,
    said, team_app,
)

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def app_client(tmp_path: Path, slack: FakeSlack, clock: FakeClock, aiohttp_client: AiohttpClient) -> TestClient[Any, Any]:
    return await aiohttp_client(team_app(tmp_path, slack, clock=clock))


@pytest.fixture
def sender(app_client: TestClient[Any, Any], slack: FakeSlack) -> SlackSender:
    return SlackSender(app_client, SECRET, slack=slack)


def buttons(message: dict[str, Any] | None) -> list[str]:
    assert message is not None
    return [e["text"]["text"] for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


async def card_reads(slack: FakeSlack, channel: str, ts: str, fragment: str) -> dict[str, Any]:
    """The card as people see it, once it says `fragment`."""
    await slack.wait_for(lambda calls: fragment in str((slack.message(channel, ts) or {}).get("text")))
    message = slack.message(channel, ts)
    assert message is not None
    return message


async def consult_posted(sender: SlackSender, slack: FakeSlack, thread: str) -> str:
    await sender.thread_reply(ANA, QUEUE, thread, f"!sme {CLASSIFICATION} | Locked out since the migration")
    card = await said(slack, SME_CHANNEL, "Consult CS-000001/1")
    assert "waiting" in str(card.params["text"]) and buttons(slack.message(SME_CHANNEL, card.response["ts"])) == ["Claim"]
    return str(card.response["ts"])


async def test_a_consult_card_follows_the_consult_to_its_end_and_the_agent_hears_of_the_claim(
    sender: SlackSender, slack: FakeSlack, clock: FakeClock
) -> None:
    thread = await chat_with_ana(sender, slack)
    card = await consult_posted(sender, slack, thread)

    clock.advance(120)  # nobody claims within 2:00: the agent is told where they work, the card says so
    told = await said(slack, QUEUE, "No SME has claimed consult CS-000001/1 after 2:00", thread=thread)
    assert told.params["text"].startswith(f"<@{ANA}>")
    unclaimed = await card_reads(slack, SME_CHANNEL, card, "waiting: unclaimed after 2:00")
    assert buttons(unclaimed) == ["Claim"]  # still open to claim

    await sender.send_action(SAM, "consult.claim", "1", channel=SME_CHANNEL, message_ts=card)
    claimed = await card_reads(slack, SME_CHANNEL, card, "claimed by Sam")
    assert buttons(claimed) == []
    heard = await said(slack, QUEUE, "Sam claimed consult CS-000001/1 on CS-000001.", thread=thread)
    assert heard.params["text"].startswith(f"<@{ANA}>")

    await sender.thread_reply(SAM, SME_CHANNEL, card, "!endconsult")
    ended = await card_reads(slack, SME_CHANNEL, card, "ended: answered by Sam")
    assert buttons(ended) == []


async def test_a_consult_card_is_withdrawn_with_its_contact(sender: SlackSender, slack: FakeSlack) -> None:
    """Escalating the chat ends its consult: the card no longer waits, and offers no Claim that
    could only be refused ("has no consult waiting")."""
    thread = await chat_with_ana(sender, slack)
    card = await consult_posted(sender, slack, thread)
    await sender.thread_reply(ANA, QUEUE, thread, "!escalate tier2")
    withdrawn = await card_reads(slack, SME_CHANNEL, card, "withdrawn: the contact ended (CS-000001 is escalated)")
    assert buttons(withdrawn) == []


async def test_a_tier2_case_shows_its_wait_and_alerts_where_staff_work(
    sender: SlackSender, slack: FakeSlack, clock: FakeClock, app_client: TestClient[Any, Any]
) -> None:
    thread = await chat_with_ana(sender, slack)
    await sender.thread_reply(ANA, QUEUE, thread, "!escalate tier2")
    escalated = await card_reads(slack, QUEUE, thread, "escalated · waiting 0 min for Tier II")
    assert buttons(escalated) == ["Accept (Tier II)"]

    clock.advance(150)  # Tier II is held to the 2-minute rule
    alert = await said(slack, QUEUE, "CS-000001 has waited 2 minutes for Tier II. Please take it.", thread=thread)
    assert alert.params["text"].startswith(f"<@{TARA}> <@{MAYA}>")
    adapter = app_client.app[RUNTIME].outlets["slack"]
    assert isinstance(adapter, SlackAdapter)
    assert await adapter.cards.refresh_waiting() == 1
    await card_reads(slack, QUEUE, thread, "escalated · waiting 2 min for Tier II")


async def test_a_card_is_updated_only_when_what_it_shows_changed(sender: SlackSender, slack: FakeSlack) -> None:
    """Every relayed line changes the case, not its card: no chat.update (Tier 3) is spent on it."""
    thread = await chat_with_ana(sender, slack)
    await slack.wait_for(lambda calls: any(c.method == "chat.update" and "with agent" in str(c.params.get("text")) for c in calls))
    updates = len(slack.calls_to("chat.update"))
    for n in range(3):
        await sender.dm(CUSTOMER, f"still locked out, try {n}", channel=DM)
        await said(slack, QUEUE, f"*Customer:* still locked out, try {n}", thread=thread)
        await sender.thread_reply(ANA, QUEUE, thread, f"Checking, step {n}")
        await said(slack, DM, f"*Ana:* Checking, step {n}")
    await sender.thread_reply(ANA, QUEUE, thread, "!devwait")  # a state the card shows: updated once
    await slack.wait_for(lambda calls: any(c.method == "chat.update" and "waiting on development" in str(c.params.get("text")) for c in calls))
    await asyncio.sleep(0.2)
    assert len(slack.calls_to("chat.update")) == updates + 1


async def test_the_idle_ladder_shows_in_the_agents_thread(sender: SlackSender, slack: FakeSlack, clock: FakeClock) -> None:
    """The bot's lines to the customer appear in the case's thread, marked as the bot's, so the
    agent's first sign of a quiet customer is the prompt at 2:00, not the warning at 3:50."""
    thread = await chat_with_ana(sender, slack)
    await sender.thread_reply(ANA, QUEUE, thread, "Could you try signing in again?")
    await said(slack, DM, "*Ana:* Could you try signing in again?")
    clock.advance(121)
    await said(slack, QUEUE, "*Bot to the customer:* Hi Jo, just checking you're with me?", thread=thread)
    clock.advance(110)
    await said(slack, QUEUE, "has been silent for 3:50", thread=thread)
    clock.advance(10)
    await said(slack, QUEUE, "*Bot to the customer:* I haven't heard from you so I'm going to end this chat.", thread=thread)
    lines = posts_in_thread(slack, QUEUE, thread)
    prompt = next(i for i, t in enumerate(lines) if "just checking" in t)
    warning = next(i for i, t in enumerate(lines) if "silent for 3:50" in t)
    assert prompt < warning
    assert not any("Bot to the customer" in t for t in slack.posted_texts(DM))  # the customer sees the bot's lines once


class GradedFinder:
    """A ranking like the real one: the customer-facing offer keeps only confident articles, while
    a search always answers with as many as asked, each with its confidence (0 for the rest)."""

    ARTICLES = {
        "export": FakeArticle("export-reports", "Export reports", "Download reports as CSV.", "https://help.example.com/export"),
        "csv": FakeArticle("csv-format", "CSV format", "Columns in exported files.", "https://help.example.com/csv"),
        "co-teacher": FakeArticle("co-teacher", "Add a co-teacher", "Share a class.", "https://help.example.com/co-teacher"),
        "grades": FakeArticle("grades", "Gradebook basics", "Grades and weights.", "https://help.example.com/grades"),
    }

    def _confidence(self, key: str, text: str) -> float:
        words = text.lower()
        if key == "export" and "export" in words:
            return 0.9
        if key == "csv" and "export" in words:
            return 0.3  # related, not confident
        if key == "co-teacher" and "person" in words:
            return 0.27
        return 0.0

    def search(self, text: str, *, limit: int = 3, audiences: Collection[str] = ("customer",)) -> list[FakeHit]:
        ranked = sorted(self.ARTICLES, key=lambda key: -self._confidence(key, text))
        return [FakeHit(self.ARTICLES[key], 1.0, self._confidence(key, text)) for key in ranked[:limit]]

    def suggest(self, text: str, *, limit: int = 3) -> list[FakeHit]:
        return [hit for hit in self.search(text, limit=limit) if hit.confidence >= 0.4]


async def test_a_cards_articles_are_those_confident_for_the_problem(tmp_path: Path, slack: FakeSlack, aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(team_app(tmp_path, slack, articles=GradedFinder()))
    sender = SlackSender(client, SECRET, slack=slack)
    await sender.send_command("/sb-status", "available", user=ANA, channel=QUEUE)
    await sender.dm(CUSTOMER, f"My export is broken. {DETAILS}", channel=DM)
    await said(slack, DM, "Export reports")
    await sender.dm(CUSTOMER, "no, I need a person", channel=DM)  # the last words, which match nothing that helps
    card = await said(slack, QUEUE, "CS-000001 · queued")
    posted = await said(slack, QUEUE, "may fit", thread=card.response["ts"])
    text = str(posted.params["text"])
    assert text.startswith("This help article may fit the customer's problem, “My export is broken.”:")
    assert "Export reports" in text and "90% sure" in text
    for noise in ("co-teacher", "CSV format", " 0% sure", "48213"):
        assert noise not in text, noise


def test_a_card_heading_is_a_whole_sentence_that_counts_right() -> None:
    found = [Suggestion(str(n), f"Article {n}", "Summary.", "", False, 0.8) for n in range(2)]
    long_problem = "My export " + "keeps failing " * 30 + "and I need it today"
    header = card_articles(found, long_problem)["blocks"][0]["text"]["text"]
    assert header.startswith("These 2 help articles may fit the customer's problem, “My export keeps failing")
    assert header.endswith(" keeps…”:")  # cut at a word, never inside one
    assert card_articles(found[:1], "Export")["blocks"][0]["text"]["text"] == "This help article may fit the customer's problem, “Export”:"
