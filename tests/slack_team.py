"""A support team on Slack for end-to-end tests: the real service with Slack on, pointed at a local
fake Slack (tests/fake_slack.py), and the people who work there: agents Ana and Ben, Tara of
Tier II, Maya the manager on duty and Sam, the accounts SME with his own channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.assist import Articles
from adapters.server import create_app
from adapters.slack_credentials import SlackCredentials
from bot.clock import Clock, SystemClock
from adapters.settings import build_settings
from bot.store.sqlite import SQLiteStore
from tests.fake_slack import Call, FakeSlack, SlackSender
from tests.harness import DEFAULT_ARTICLES, KeywordFinder

SECRET = "team-signing-secret"
QUEUE, SME_CHANNEL, SHARED = "CQUEUE", "CSME", "CSHARED"
ANA, BEN, TARA, MAYA, SAM, CUSTOMER = "UANA", "UBEN", "UTARA", "UMAYA", "USAM", "UCUST"
DM, ANA_DM = "DCUST", "DANA"  # the bot's DMs with the customer and with Ana (tests.fake_slack.dm_of)
DETAILS = "user ID 48213, Chrome, ann@school.org, the error says 'Invalid password', steps: I typed it twice"
CLASSIFICATION = "Accounts and sign-in"


def team_app(tmp_path: Path, slack: FakeSlack, *, clock: Clock | None = None, articles: Articles | None = None,
             **sections: Any) -> web.Application:
    """The service with Slack on and the team above; `sections` override settings sections."""
    settings = build_settings(
        {
            "server": {"timer_poll_interval": "0.02s"},
            "business_hours": {"open": "00:00", "close": "24:00"},
            "slack": {"queue_channel": QUEUE, "channel_pace": "0s"},
            "sme_groups": [{"name": "accounts", "classifications": [CLASSIFICATION], "members": ["sam"], "slack_channel": SME_CHANNEL}],
            "roster": [
                {"id": "ana", "name": "Ana", "role": "agent", "slack": ANA},
                {"id": "ben", "name": "Ben", "role": "agent", "slack": BEN},
                {"id": "tara", "name": "Tara", "role": "tier2", "slack": TARA},
                {"id": "maya", "name": "Maya", "role": "manager", "on_duty": True, "slack": MAYA},
                {"id": "sam", "name": "Sam", "role": "sme", "slack": SAM},
            ],
            **sections,
        }
    )
    return create_app(
        settings,
        clock=clock or SystemClock(),
        store=SQLiteStore(tmp_path / "team.db"),
        articles=articles or KeywordFinder(dict(DEFAULT_ARTICLES)),
        slack=SlackCredentials("xoxb-test", SECRET, api_url=slack.api_url),
    )


async def said(slack: FakeSlack, channel: str, fragment: str, *, thread: str | None = None, timeout: float = 5.0) -> Call:
    """The first post to `channel` (in `thread`, when given) whose text has `fragment`."""

    def match(call: Call) -> bool:
        return (call.params.get("channel") == channel and fragment in str(call.params.get("text", ""))
                and (thread is None or call.params.get("thread_ts") == thread))

    return await slack.wait_for_call("chat.postMessage", match, timeout=timeout)


async def shown_to(slack: FakeSlack, user: str, fragment: str, *, timeout: float = 5.0) -> Call:
    """The first ephemeral message Slack showed `user` whose text has `fragment`."""

    def match(call: Call) -> bool:
        return call.ok and call.params.get("user") == user and fragment in str(call.params.get("text", ""))

    return await slack.wait_for_call("chat.postEphemeral", match, timeout=timeout)


def posts_in_thread(slack: FakeSlack, channel: str, thread: str) -> list[str]:
    return [str(c.params.get("text")) for c in slack.posted(channel) if c.params.get("thread_ts") == thread]


async def chat_with_ana(sender: SlackSender, slack: FakeSlack, problem: str = "My export is broken") -> str:
    """A customer asks for a person and Ana accepts; returns the chat's card ts (its thread is the chat)."""
    await sender.send_command("/sb-status", "available", user=ANA, channel=QUEUE)
    await sender.dm(CUSTOMER, f"{problem}. {DETAILS}", channel=DM, user_profile={"display_name": "Jo"})
    offer = await said(slack, DM, "help articles may answer")
    more = offer.button("I still need help")
    await sender.send_action(CUSTOMER, more["action_id"], more["value"], channel=DM)
    card = await said(slack, QUEUE, "CS-000001 · queued")
    await sender.send_action(ANA, "case.accept", card.button("Accept")["value"], channel=QUEUE, message_ts=card.response["ts"])
    await said(slack, DM, "Ana has joined")
    return str(card.response["ts"])
