"""Answers to staff, shown where they acted.

A staff member acts in many places: a chat's thread or card in the queue channel, a consult's
card or thread in an SME group's channel, a slash command typed in any channel or DM. The answer
(an engine reply such as "Sam already claimed consult …", a usage hint, a confirmation) belongs
there, ephemeral and in the same thread: posted in the queue channel, as it used to be, it went
unseen by someone working elsewhere, and was never shown at all to someone not in that channel.
Slack shows an ephemeral message only in a conversation the bot is in, to a member of it; where it
refuses (a DM between two people, a channel without the bot: `channel_not_found`,
`not_in_channel`, `user_not_in_channel`) the answer goes to the person's DM with the bot instead.

The engine's replies come later, from the outbox, naming only whom they are for; so each staff
member's latest place is remembered (`acted:<staff id>`) when they act, and their replies go
there. Two commands a second apart in two places may have both replies shown in the second.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_api import NotDone, SlackCalls
from adapters.slack_once import OncePoster
from adapters.slack_refs import Refs
from adapters.slack_settings import slack_id
from bot.config import RosterEntry
from bot.ports import Attempt, DeliveryError

log = logging.getLogger(__name__)

# Slack's answers to chat.postEphemeral meaning "not here, ever": the person gets a DM instead
NOT_HERE = frozenset({"user_not_in_channel", "channel_not_found", "not_in_channel", "is_archived", "channel_type_not_supported"})
# Slack's answers meaning "not now": an outbox delivery is tried again later
NOT_NOW = frozenset({"ratelimited", "unreachable"})


@dataclass(frozen=True)
class Place:
    """Where someone acted: a channel, and the thread when it was in one."""

    channel: str
    thread_ts: str = ""

    def ref(self) -> str:
        return f"{self.channel}:{self.thread_ts}"

    @classmethod
    def from_ref(cls, value: str) -> Place:
        channel, _, thread_ts = value.partition(":")
        return cls(channel, thread_ts)


class DirectMessages:
    """A person's DM channel with the bot, opened once (conversations.open) and remembered."""

    def __init__(self, client: AsyncWebClient, refs: Refs) -> None:
        self.client = client
        self.refs = refs

    async def channel_of(self, user: str) -> str:
        known = await self.refs.get(f"im:{user}")
        if known:
            return known
        opened = await self.client.conversations_open(users=user)
        channel = str((opened.get("channel") or {}).get("id") or "")
        if not channel:
            raise DeliveryError(f"slack: conversations.open gave no channel for {user}")
        await self.refs.set(f"im:{user}", channel)
        return channel


class StaffAnswers:
    def __init__(self, client: AsyncWebClient, calls: SlackCalls, once: OncePoster, refs: Refs, dms: DirectMessages, queue_channel: str) -> None:
        self.client = client
        self.calls = calls
        self.once = once
        self.refs = refs
        self.dms = dms
        self.queue_channel = queue_channel

    async def acted(self, staff: RosterEntry, place: Place) -> None:
        """Remembers where `staff` acted last: the engine's replies to them are shown there."""
        await self.refs.set(f"acted:{staff.id}", place.ref())

    async def tell(self, staff: RosterEntry, text: str, *, place: Place | None = None, attempt: Attempt | None = None) -> None:
        """`text` for `staff` alone, ephemeral at `place` (by default where they acted last, else
        the queue channel), or in their DM with the bot where Slack will not show it there.

        With `attempt` (an outbox delivery) a failure Slack may get over is raised, to be tried
        again; a DM then goes out once (adapters/slack_once.py). Without, it is logged."""
        if not slack_id(staff):
            return
        where = place or await self._last_place(staff)
        if where is not None:
            try:
                await self.client.chat_postEphemeral(channel=where.channel, user=slack_id(staff), text=text, thread_ts=where.thread_ts or None)
                return
            except (SlackApiError, OSError) as exc:
                error = exc.response.get("error") if isinstance(exc, SlackApiError) and exc.response else repr(exc)
                if error not in NOT_HERE:
                    if attempt is not None:
                        raise
                    log.warning("slack ephemeral reply not shown", extra={"staff": staff.id, "channel": where.channel, "error": error})
                    return
                log.info("slack ephemeral refused there; answering by DM", extra={"staff": staff.id, "channel": where.channel, "error": error})
        await self.direct(staff, text, attempt=attempt)

    async def direct(self, staff: RosterEntry, text: str, *, attempt: Attempt | None = None) -> None:
        """`text` in `staff`'s DM with the bot; a refusal there is logged (nowhere is left to try)."""
        if not slack_id(staff):
            return
        try:
            message = {"channel": await self.dms.channel_of(slack_id(staff)), "text": text}
            if attempt is not None:
                await self.once.post(attempt, f"dm:{staff.id}", message)
            else:
                await self.calls.post_message(**message)
            return
        except NotDone as exc:  # Slack said no, or was never reached
            if attempt is not None and exc.error in NOT_NOW:
                raise
            error = exc.error
        except SlackApiError as exc:  # conversations.open refused (a deactivated user, say): for good
            error = str(exc.response.get("error") if exc.response else exc)
        except (DeliveryError, OSError) as exc:  # the post may or may not have gone out
            if attempt is not None:
                raise
            error = repr(exc)
        log.warning("slack reply not shown, not even by DM", extra={"staff": staff.id, "error": error})

    async def _last_place(self, staff: RosterEntry) -> Place | None:
        remembered = await self.refs.get(f"acted:{staff.id}")
        if remembered:
            return Place.from_ref(remembered)
        return Place(self.queue_channel) if self.queue_channel else None
