"""Which Slack conversation a chat is, as one tested pair of functions: a DM is `slack:<channel>`;
a chat that lives in a shared channel's thread (a customer's @mention opened it) is
`slack:<channel>:<thread ts>`."""

from __future__ import annotations

from typing import NamedTuple

from adapters.slack_settings import PLATFORM


class Address(NamedTuple):
    channel: str
    thread_ts: str  # "" for a DM


def conversation_id(channel: str, thread_ts: str = "") -> str:
    return f"{PLATFORM}:{channel}:{thread_ts}" if thread_ts else f"{PLATFORM}:{channel}"


def address(conversation_id: str) -> Address:
    """Where to post in Slack for one of its conversation ids."""
    platform, _, rest = conversation_id.partition(":")
    if platform != PLATFORM or not rest:
        raise ValueError(f"not a Slack conversation id: {conversation_id!r}")
    channel, _, thread_ts = rest.partition(":")
    return Address(channel, thread_ts)


def is_shared_thread(conversation_id: str) -> bool:
    """A chat in a channel's thread (others read along), not a DM (channel ids of DMs start with D)."""
    channel, thread_ts = address(conversation_id)
    return bool(thread_ts) and not channel.startswith("D")
