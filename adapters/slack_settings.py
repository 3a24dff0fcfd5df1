"""Slack's own settings (`[slack]`) and the ids Slack knows people and channels by.

The engine's settings name no platform: this section is registered with the loader by
adapters/settings.py, and a roster entry's Slack user id is its `slack` account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from bot.config import Duration, RosterEntry, Settings, SmeGroup

PLATFORM = "slack"


@dataclass(frozen=True)
class SlackSettings:
    """Slack: enabled when SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are set (secrets stay in the environment)."""

    queue_channel: str = ""  # channel id where waiting chats are posted and agents work in threads
    note_prefix: str = "note:"  # thread messages starting with it are internal notes
    command_prefix: str = "!"  # thread messages like "!resolve" are commands
    customer_mentions: bool = True  # customers may also @mention the bot in shared channels
    allow_bots: bool = False  # answer other bots' messages
    command_status: str = "/sb-status"
    command_case: str = "/sb-case"
    command_note: str = "/sb-note"
    command_escalate: str = "/sb-escalate"
    command_resolve: str = "/sb-resolve"
    command_sme: str = "/sb-sme"
    command_kb: str = "/sb-kb"  # agent assist: help articles for some words (or the open chat's last message)
    card_articles: bool = True  # agent assist: a waiting chat's card gets the best articles in its thread, once
    channel_pace: Duration = Duration(1.0)  # at most one message per channel per this interval
    max_text_chars: int = 3000  # longer messages are split (Slack's limit for a text block)


def slack_settings(settings: Settings) -> SlackSettings:
    return cast(SlackSettings, settings.adapters[PLATFORM])


def slack_id(entry: RosterEntry) -> str:
    """The person's Slack user id ("" when they do not work in Slack)."""
    return entry.account(PLATFORM)


def consult_channel(group: SmeGroup) -> str:
    return group.channel(PLATFORM)
