"""Staff in Slack hear what their commands did, where they acted: ephemeral in that channel (and
thread), by DM where Slack will not show it there. Every command answers its caller; a bare
/sb-escalate asks instead of escalating; the engine's newer commands (handover, reassign, requeue,
calledback) work from a thread, with Slack mentions for people. Signed deliveries into the real
app; Slack is the local fake (tests/fake_slack.py)."""

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
from bot.domain import CaseState
from tests.fake_slack import FakeSlack, SlackSender
from tests.slack_team import (
    ANA, ANA_DM, BEN, CLASSIFICATION, DM, QUEUE, SAM, SECRET, SME_CHANNEL, chat_with_ana, said, shown_to, team_app,
)

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


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


async def case_state(client: TestClient[Any, Any]) -> CaseState:
    case = await client.app[RUNTIME].store.case(1)
    assert case is not None
    return case.state


async def test_answers_are_shown_where_the_person_acted(sender: SlackSender, slack: FakeSlack) -> None:
    """A slash command in the DM with the bot is answered there, a command in a card's thread in
    that thread, a Claim refused in the SME channel in that channel: not in the queue channel,
    where nobody working elsewhere would see it."""
    await sender.send_command("/sb-status", "available", user=ANA, channel=ANA_DM)
    assert (await shown_to(slack, ANA, "You are now available")).params["channel"] == ANA_DM

    thread = await chat_with_ana(sender, slack)
    await sender.thread_reply(ANA, QUEUE, thread, "!case")
    shown = await shown_to(slack, ANA, "CS-000001 · with agent")
    assert (shown.params["channel"], shown.params.get("thread_ts")) == (QUEUE, thread)

    await sender.thread_reply(ANA, QUEUE, thread, f"!sme {CLASSIFICATION} | Locked out since the migration")
    card = await said(slack, SME_CHANNEL, "Consult CS-000001/1")
    claim = card.button("Claim")
    await sender.send_action(SAM, claim["action_id"], claim["value"], channel=SME_CHANNEL, message_ts=card.response["ts"])
    await sender.send_action(BEN, claim["action_id"], claim["value"], channel=SME_CHANNEL, message_ts=card.response["ts"])
    refused = await shown_to(slack, BEN, "is for the accounts SME group")  # Ben is no SME
    assert refused.params["channel"] == SME_CHANNEL


async def test_where_slack_will_not_show_an_answer_it_comes_by_dm(sender: SlackSender, slack: FakeSlack) -> None:
    """A slash command typed in a DM between two people (the bot is not in it), or in a channel
    the person has not joined: Slack refuses the ephemeral message, so the answer goes to the
    person's DM with the bot, opened when needed; the engine's replies (from the outbox) too."""
    await sender.send_command("/sb-case", "", user=ANA, channel="DANA-BEN")
    dm = await said(slack, ANA_DM, "Which case?")
    assert [c.params["users"] for c in slack.calls_to("conversations.open")] == [ANA]
    assert [c.response["error"] for c in slack.calls_to("chat.postEphemeral")] == ["channel_not_found"]

    slack.fail("chat.postEphemeral", status=200, error="user_not_in_channel", channel=QUEUE)
    await sender.send_command("/sb-status", "sideways", user=ANA, channel=QUEUE)
    await said(slack, ANA_DM, "Use /sb-status available or /sb-status away.")
    assert len(slack.calls_to("conversations.open")) == 1  # the DM channel is remembered
    assert dm.params["channel"] == ANA_DM


async def test_an_answer_that_cannot_be_shown_at_all_is_logged_and_holds_nothing_back(
    sender: SlackSender, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused in the channel and in the DM (a deactivated account, say): logged and dropped;
    retried, it would hold back every later delivery to the same place."""
    slack.fail("chat.postEphemeral", status=200, error="user_not_in_channel", channel=QUEUE)
    slack.fail("conversations.open", status=200, error="user_disabled")
    with caplog.at_level(logging.WARNING, logger="adapters.slack_answers"):
        await sender.send_command("/sb-status", "sideways", user=ANA, channel=QUEUE)  # the engine's reply: from the outbox
        await slack.wait_for(lambda calls: any(c.method == "conversations.open" for c in slack.attempts))
        await sender.send_command("/sb-status", "available", user=ANA, channel=QUEUE)
        await shown_to(slack, ANA, "You are now available")
    [warned] = [r for r in caplog.records if r.getMessage() == "slack reply not shown, not even by DM"]
    assert (getattr(warned, "staff"), getattr(warned, "error")) == ("ana", "user_disabled")


async def test_every_command_tells_its_caller_what_it_did(sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]) -> None:
    thread = await chat_with_ana(sender, slack)
    accepted = await shown_to(slack, ANA, "You have CS-000001 now")
    assert accepted.params["channel"] == QUEUE

    await sender.send_command("/sb-note", "customer is on the old plan #billing", user=ANA, channel=ANA_DM)
    assert (await shown_to(slack, ANA, "Note added to CS-000001 (#billing).")).params["channel"] == ANA_DM
    await sender.thread_reply(ANA, QUEUE, thread, "!hold")
    assert (await shown_to(slack, ANA, "got the holding line")).params.get("thread_ts") == thread
    await sender.thread_reply(ANA, QUEUE, thread, "!stilllooking")
    await shown_to(slack, ANA, "heard you're still looking into it")
    await sender.send_command("/sb-sme", f"{CLASSIFICATION} | Locked out since the migration", user=ANA, channel=ANA_DM)
    await shown_to(slack, ANA, f"Consult CS-000001/1 ({CLASSIFICATION}) is with the accounts SMEs")
    card = await said(slack, SME_CHANNEL, "Consult CS-000001/1")
    await sender.send_action(SAM, "consult.claim", card.button("Claim")["value"], channel=SME_CHANNEL)
    await shown_to(slack, SAM, "You have consult CS-000001/1: talk with Ana")
    await sender.thread_reply(SAM, SME_CHANNEL, card.response["ts"], "!endconsult")
    await shown_to(slack, SAM, "Consult CS-000001/1 is ended.")
    await sender.send_command("/sb-resolve", "CS-000001", user=ANA, channel=ANA_DM)
    resolved = await shown_to(slack, ANA, "CS-000001 is resolved")
    assert resolved.params["channel"] == ANA_DM and await case_state(app_client) is CaseState.RESOLVED


async def test_escalating_and_waiting_on_development_are_confirmed(sender: SlackSender, slack: FakeSlack) -> None:
    thread = await chat_with_ana(sender, slack)
    await sender.thread_reply(ANA, QUEUE, thread, "!devwait")
    await shown_to(slack, ANA, "CS-000001 is waiting on development: the customer was told, and hears from us every day.")
    await sender.send_command("/sb-escalate", "CS-000001 tier2", user=ANA, channel=QUEUE)
    await shown_to(slack, ANA, "CS-000001 is escalated to Tier II")


async def test_a_bare_escalate_asks_for_the_target_and_escalates_nothing(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]
) -> None:
    thread = await chat_with_ana(sender, slack)
    await sender.send_command("/sb-escalate", "", user=ANA, channel=QUEUE)
    usage = await shown_to(slack, ANA, "Escalate to whom? Use `/sb-escalate [CS-…] tier2|manager`")
    assert usage.params["channel"] == QUEUE
    await sender.send_command("/sb-escalate", "CS-000001", user=ANA, channel=QUEUE)
    await sender.thread_reply(ANA, QUEUE, thread, "!escalate")
    await slack.wait_for(lambda calls: sum("Escalate to whom?" in str(c.params.get("text")) for c in calls) == 3)
    await asyncio.sleep(0.2)
    assert await case_state(app_client) is CaseState.WITH_AGENT
    assert not any("escalated" in t for t in slack.posted_texts(DM))


async def test_someone_who_may_not_write_in_a_closed_chat_hears_it_is_closed(sender: SlackSender, slack: FakeSlack) -> None:
    thread = await chat_with_ana(sender, slack)
    await sender.thread_reply(ANA, QUEUE, thread, "!resolve")
    await said(slack, DM, "How would you rate")
    await sender.thread_reply(BEN, QUEUE, thread, "Hi, anything else I can help with?")
    shown = await shown_to(slack, BEN, "CS-000001 is resolved already; a new need from the customer opens a new case.")
    assert shown.params.get("thread_ts") == thread
    await asyncio.sleep(0.2)
    assert not any("anything else" in t for t in slack.posted_texts(DM))


async def test_handover_reassign_and_requeue_work_from_a_thread_with_mentions(
    sender: SlackSender, slack: FakeSlack, app_client: TestClient[Any, Any]
) -> None:
    thread = await chat_with_ana(sender, slack)
    await sender.send_command("/sb-status", "available", user=BEN, channel=QUEUE)
    await sender.thread_reply(ANA, QUEUE, thread, "!handover <@UBEN> shift change, customer is on the old plan")
    await shown_to(slack, ANA, "CS-000001 is now with Ben.")
    await said(slack, DM, "Ben has joined the chat")
    told = await said(slack, QUEUE, "Ana handed CS-000001 to you: shift change, customer is on the old plan", thread=thread)
    assert told.params["text"].startswith(f"<@{BEN}>")

    await sender.thread_reply(BEN, QUEUE, thread, "!handover <@UNOBODY> later")
    await shown_to(slack, BEN, "<@UNOBODY> is not on the support roster")
    await sender.thread_reply(BEN, QUEUE, thread, "!requeue end of my shift")
    await shown_to(slack, BEN, "CS-000001 is back in the queue, first in line.")
    assert await case_state(app_client) is CaseState.QUEUED
    await sender.thread_reply(ANA, QUEUE, thread, "!calledback")
    await shown_to(slack, ANA, "CS-000001 has no call back waiting.")


async def test_help_lists_the_ownership_commands_in_slacks_terms(sender: SlackSender, slack: FakeSlack) -> None:
    thread = await chat_with_ana(sender, slack)
    await sender.thread_reply(ANA, QUEUE, thread, "!help")
    shown = await shown_to(slack, ANA, "What you can do here")
    for command in ("`!handover @name <note>`", "`!reassign @name <note>`", "`!requeue [reason]`", "`!calledback`"):
        assert command in shown.params["text"], command
    await sender.thread_reply(ANA, QUEUE, thread, "!frobnicate")  # the engine's own help, as Slack names the commands
    unknown = await shown_to(slack, ANA, "Unknown command 'frobnicate'")
    assert "!handover &lt;name&gt; &lt;note&gt;" in unknown.params["text"] and "/handover" not in unknown.params["text"]
