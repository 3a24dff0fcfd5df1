"""Outbox payloads as Slack posts: what the bot and agents say to customers, notices to staff where
they work (a case card's thread, mentioning whom they are for), consult threads, and the replies
to staff commands (adapters/slack_answers.py); cards are adapters/slack_cards.py's.

Every post of a delivery goes out at most once, across retries and restarts
(adapters/slack_once.py); each channel is paced to about one message a second (ChannelPacer), a
post that must wait being handed back to the outbox with the wait as its `retry_after`. A chat in
a shared channel's thread asks its personal questions in a DM (adapters/slack_shared.py), and the
bot's lines to a customer an agent has taken also show in the case's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack_answers import StaffAnswers
from adapters.slack_api import SlackCalls
from adapters.slack_blocks import escape, message_parts
from adapters.slack_cards import Cards
from adapters.slack_help import for_customers, for_staff
from adapters.slack_ids import address, is_shared_thread
from adapters.slack_once import OncePoster
from adapters.slack_refs import SOURCE, Refs
from adapters.slack_settings import slack_id, slack_settings
from adapters.slack_shared import SharedChats
from bot.config import RosterEntry, Settings
from bot.domain import Role
from bot.events import CaseChanged, NotifyStaff
from bot.pii import TRUSTED_ROLES, for_role
from bot.ports import Attempt, DeliveryError, Line
from bot.store.base import Store

log = logging.getLogger(__name__)

BOT_TO_CUSTOMER = "Bot to the customer"  # how the bot's lines mirrored into a case's thread are marked


class ChannelPacer:
    """About one message per second per channel (Slack's guidance), allowing a short burst.

    Every customer's DM is a channel, so channels whose bucket has refilled (they are as good as
    never seen) are forgotten now and then; otherwise the table would grow by one per customer."""

    PRUNE_EVERY = 1024  # calls between sweeps

    def __init__(self, interval: float, burst: int = 3) -> None:
        self.interval = interval
        self.burst = burst
        self._level: dict[str, tuple[float, float]] = {}
        self._calls = 0

    def __len__(self) -> int:
        return len(self._level)

    def wait_for(self, channel: str, now: float) -> float:
        """Seconds until `channel` may take another message (0 means now; the slot is then used)."""
        if self.interval <= 0:
            return 0.0
        self._calls += 1
        if self._calls % self.PRUNE_EVERY == 0:
            full = self.burst * self.interval
            self._level = {c: level for c, level in self._level.items() if now - level[1] < full}
        tokens, since = self._level.get(channel, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - since) / self.interval)
        if tokens < 1.0:
            self._level[channel] = (tokens, now)
            return (1.0 - tokens) * self.interval
        self._level[channel] = (tokens - 1.0, now)
        return 0.0

    def take(self, channel: str) -> None:
        """Claims the channel's next posting slot now, or has the outbox retry when it is free."""
        wait = self.wait_for(channel, time.monotonic())
        if wait > 0:
            raise DeliveryError("pacing", retry_after=wait)


class Outbound:
    def __init__(self, store: Store, settings: Settings, calls: SlackCalls, once: OncePoster, refs: Refs, pacer: ChannelPacer,
                 *, answers: StaffAnswers, cards: Cards, shared: SharedChats) -> None:
        self.store = store
        self.settings = settings
        self.slack = slack_settings(settings)
        self.calls = calls
        self.once = once
        self.refs = refs
        self.pacer = pacer
        self.answers = answers
        self.cards = cards
        self.shared = shared

    async def show(self, line: Line, attempt: Attempt) -> None:
        async with _slack_failures():
            await self._show(line, attempt)

    async def notify(self, notice: NotifyStaff, attempt: Attempt) -> None:
        async with _slack_failures():
            await self._notify(notice, attempt)

    async def case_changed(self, change: CaseChanged, attempt: Attempt) -> None:
        if change.queue_card:
            async with _slack_failures():
                await self.cards.show_case(change.case_id, attempt)

    async def _show(self, line: Line, attempt: Attempt) -> None:
        conversation_id = line.conversation_id
        channel, thread_ts = address(conversation_id)
        text, by_bot = line.text, line.sender == "bot"
        if by_bot and is_shared_thread(conversation_id):  # others read along: personal questions go to a DM
            text = await self.shared.ask_privately(attempt, conversation_id, line.case_id, text)
        text = for_customers(text, self.slack)
        shown = escape(text)
        if line.sender == "agent":
            shown = f"*{escape(line.sender_name or 'Advisor')}:* {shown}"
        buttons = [{"id": b.id, "label": b.label, "value": b.value} for b in line.buttons]
        await self._post(attempt, channel, shown, buttons, thread_ts=thread_ts)
        if by_bot and line.case_id is not None:
            await self._mirror(line.case_id, text, attempt)

    async def _mirror(self, case_id: int, text: str, attempt: Attempt) -> None:
        """Once an agent has taken a chat, the bot's lines to its customer show in the case's thread
        too, marked as the bot's: the idle prompt at 2:00, the closing, the end of a chat, the
        survey. Without them the agent's first sign of a quiet customer was the warning at 3:50."""
        if not self.slack.queue_channel:
            return
        thread = await self.refs.get(f"case:{case_id}")  # most chats never reach a person: no card, no case read
        case = await self.store.case(case_id) if thread is not None else None
        if thread is None or case is None or case.accepted_at is None:
            return
        line = f"*{BOT_TO_CUSTOMER}:* {escape(for_role(Role.AGENT, text))}"  # the channel's readers are Tier I
        self.pacer.take(self.slack.queue_channel)
        for n, message in enumerate(self._messages(self.slack.queue_channel, line, [], thread)):
            await self.once.post(attempt, f"mirror{n}", message)

    async def _post(self, attempt: Attempt, channel: str, text: str, buttons: list[dict[str, str]], *, thread_ts: str = "") -> None:
        messages = self._messages(channel, text, buttons, thread_ts)
        self.pacer.take(channel)
        for n, message in enumerate(messages):
            await self.once.post(attempt, f"part{n}", message)

    def _messages(self, channel: str, text: str, buttons: list[dict[str, str]], thread_ts: str) -> list[dict[str, Any]]:
        """chat.postMessage's arguments for a text, split at Slack's limits."""
        return [{"channel": channel, "text": part["text"], "blocks": part["blocks"], "thread_ts": thread_ts or None}
                for part in message_parts(text, buttons, limit=self.slack.max_text_chars)]

    async def post_direct(self, conversation_id: str, text: str) -> None:
        """A line posted at once rather than through the outbox: tried once, never retried."""
        channel, thread_ts = address(conversation_id)
        try:
            self.pacer.take(channel)
            for message in self._messages(channel, escape(text), [], thread_ts):
                await self.calls.post_message(**message)
        except DeliveryError as exc:
            log.warning("direct slack reply not delivered", extra={"error": str(exc)})

    async def _notify(self, notice: NotifyStaff, attempt: Attempt) -> None:
        recipients = [self.settings.staff(r) for r in notice.recipients]
        people = [r for r in recipients if r is not None and slack_id(r)]
        kind = notice.kind
        if kind.startswith("consult_"):
            await self._consult_notice(notice, people, attempt)
        elif kind == "reply":  # an answer to the person's own command: where they acted
            for person in people:
                await self.answers.tell(person, escape(for_staff(for_role(person.role, notice.text), self.slack)), attempt=attempt)
        elif people and kind != "queue_new":  # new chats show up as their queue card
            await self._to_case_thread(notice, people, attempt)

    async def _to_case_thread(self, notice: NotifyStaff, people: list[RosterEntry], attempt: Attempt) -> None:
        """A notice in the case card's thread (or, for a case without a card, the queue channel),
        mentioning whom it is for; the customer's words relayed under "Customer"."""
        if not self.slack.queue_channel:
            return
        case_id = notice.case_id
        thread_ts = await self.refs.get(f"case:{case_id}") if case_id is not None else None
        role = Role.AGENT if any(p.role not in TRUSTED_ROLES for p in people) else Role.TIER2  # Tier I sees masked data
        if notice.kind == "customer_message":
            text = f"*Customer:* {escape(for_role(role, notice.text))}"
        else:
            mentions = " ".join(f"<@{slack_id(p)}>" for p in people)
            text = f"{mentions} {escape(for_staff(for_role(role, notice.text), self.slack))}"
        await self._post(attempt, self.slack.queue_channel, text, [], thread_ts=thread_ts or "")

    async def _consult_notice(self, notice: NotifyStaff, people: list[RosterEntry], attempt: Attempt) -> None:
        """Consults live in their SME group's channel: a card with Claim, kept true to the consult's
        state (adapters/slack_cards.py), then its thread. The agent hears of the claim, or that
        nobody claimed in time, where they work: the case's thread."""
        case = await self.store.case(notice.case_id) if notice.case_id is not None else None
        if case is None:
            return
        consult = case.consult(notice.consult) if notice.consult else case.open_consult()  # "unclaimed" names no number
        if consult is None:
            return
        kind = notice.kind
        if kind == "consult_new":
            await self.cards.post_consult(case, consult, attempt)
            return
        if kind in ("consult_claimed", "consult_unclaimed"):
            await self.cards.show_consults(case)
            agent = self.settings.staff(consult.agent_id)
            if agent is not None and slack_id(agent):
                await self._to_case_thread(notice, [agent], attempt)
            return
        thread = await self.refs.get(f"consult:{case.id}:{consult.number}")
        channel = self.cards.channel_of(consult)
        if thread is None or not channel or (kind == "consult_message" and notice.origin == SOURCE):
            return  # typed in the thread already: no echo
        author = notice.author
        text = escape(notice.text)
        if kind == "consult_message" and author != "bot":
            text = f"*{escape(self.settings.name_of(author) or 'Staff')}:* {text}"
        elif kind != "consult_message":
            text = " ".join(f"<@{slack_id(p)}>" for p in people) + " " + text
        await self._post(attempt, channel, text, [], thread_ts=thread)




@contextlib.asynccontextmanager
async def _slack_failures() -> AsyncIterator[None]:
    """Slack's refusals and unreachability as DeliveryError, which the outbox retries."""
    try:
        yield
    except SlackApiError as exc:
        retry_after = exc.response.headers.get("Retry-After") if exc.response is not None else None
        raise DeliveryError(f"slack: {exc.response.get('error') if exc.response else exc}", retry_after=float(retry_after) if retry_after else None) from exc
    except (OSError, asyncio.TimeoutError) as exc:
        raise DeliveryError(f"slack unreachable: {exc!r}") from exc
