"""Chats in a shared channel's thread, where others read along and may write.

A customer may start a chat by mentioning the bot in a shared (or Slack Connect) channel; the chat
then lives in that message's thread, which everyone in the channel reads. Two things differ from a
DM:

* Only the person who started it is the customer (the conversation's `customer_ref`). Anyone else
  writing in the thread reaches the agent under their own name ("Jo (not the customer)") and is
  not taken for the customer: their words open nothing, answer no question, reset no idle clock.
* Personal details are not asked for in public. The questions that ask for them (the intake's
  user ID and email, the email a ticket is answered at, a call back's phone number: the spiels
  in PRIVATE_SPIELS) go to the customer's DM with the bot, the thread hears that they were asked
  there, and what the customer writes in that DM for a while (PRIVATE_ANSWERS_FOR) is the shared
  chat's, not a new chat of its own.
"""

from __future__ import annotations

import logging
import re
import string
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_answers import DirectMessages
from adapters.slack_api import SlackCalls
from adapters.slack_blocks import escape
from adapters.slack_ids import address
from adapters.slack_names import CustomerNames
from adapters.slack_once import OncePoster
from adapters.slack_refs import Refs
from bot.clock import Clock
from bot.config import Spiels
from bot.domain import Conversation, Role
from bot.pii import for_role
from bot.ports import Attempt, DeliveryError
from bot.store.base import Store

log = logging.getLogger(__name__)

PRIVATE_SPIELS = ("ask_details", "offline_need_email", "callback_number_prompt")
PRIVATE_ANSWERS_FOR = 900.0  # seconds after the question in which the customer's DMs answer it
ASKED_PRIVATELY = "I've sent you a direct message to ask for the details, so they stay out of this thread."
SOMEONE_ELSES = "This thread is someone else's chat with support. To get help yourself, mention me in a new message."


class PrivateAsks:
    """Finds the questions for personal details in a bot message (the spiels, whatever they were
    configured to say, with their placeholders filled in)."""

    def __init__(self, spiels: Spiels) -> None:
        patterns = [_pattern(getattr(spiels, name)) for name in PRIVATE_SPIELS]
        self._asks = re.compile("|".join(f"(?:{p})" for p in patterns if p), re.DOTALL)

    def split(self, text: str) -> tuple[str, str]:
        """(what may be said in the thread, what must be asked privately: "" when nothing)."""
        private = [m.group(0).strip() for m in self._asks.finditer(text)]
        if not private:
            return text, ""
        public = re.sub(r"\n{3,}", "\n\n", self._asks.sub("", text)).strip()
        return public, "\n\n".join(private)


def _pattern(template: str) -> str:
    """A regular expression for the spiel, each placeholder matching what fills it in (to the end
    of its paragraph when it ends the spiel: a turn's bot lines are merged as paragraphs)."""
    if not template.strip():
        return ""
    parts = list(string.Formatter().parse(template))
    pattern = ""
    for index, (literal, field, _, _) in enumerate(parts):
        pattern += re.escape(literal)
        if field is not None:
            pattern += r"(?:(?!\n\n).)+" if index == len(parts) - 1 else r".+?"
    return pattern


class SharedChats:
    def __init__(self, client: AsyncWebClient, store: Store, refs: Refs, calls: SlackCalls, once: OncePoster, dms: DirectMessages,
                 names: CustomerNames, clock: Clock, spiels: Spiels, queue_channel: str) -> None:
        self.client = client
        self.store = store
        self.refs = refs
        self.calls = calls
        self.once = once
        self.dms = dms
        self.names = names
        self.clock = clock
        self.asks = PrivateAsks(spiels)
        self.queue_channel = queue_channel

    async def ask_privately(self, attempt: Attempt, conversation_id: str, case_id: int | None, text: str) -> str:
        """Sends the personal-details questions in `text` to the customer's DM (once per delivery)
        and returns what the thread may read: the rest, and that they were asked privately."""
        public, private = self.asks.split(text)
        conversation = await self.store.conversation(conversation_id) if private else None
        if conversation is None or not conversation.customer_ref:
            return text
        case = await self.store.case(case_id) if case_id is not None else None
        channel = address(conversation_id).channel
        about = f"About case {case.number}" if case else "About your question"
        im = await self.dms.channel_of(conversation.customer_ref)
        await self.once.post(attempt, "private", {"channel": im, "text": f"{about} in <#{channel}>: {escape(private)}"})
        await self.refs.set(f"answers_for:{im}", f"{self.clock.now() + PRIVATE_ANSWERS_FOR} {conversation_id}")
        return f"{public}\n\n{ASKED_PRIVATELY}".strip()

    async def answering(self, im: str) -> str | None:
        """The shared chat that a message in DM `im` answers privately, if it was asked lately."""
        value = await self.refs.get(f"answers_for:{im}")
        if not value:
            return None
        until, _, conversation_id = value.partition(" ")
        return conversation_id if float(until) > self.clock.now() else None

    async def thank_privately(self, im: str, conversation_id: str) -> None:
        """Tells the customer, in the DM, where their private answer went (tried once: a nicety)."""
        conversation = await self.store.conversation(conversation_id)
        case = await self.store.case(conversation.case_id) if conversation and conversation.case_id else None
        channel = address(conversation_id).channel
        where = f"case {case.number}" if case else "your question"
        try:
            await self.calls.post_message(channel=im, text=f"Thanks, that's with {where} now. We'll carry on in the thread in <#{channel}>.")
        except DeliveryError as exc:
            log.info("private answer not acknowledged", extra={"error": str(exc)})

    async def not_the_customer(self, conversation: Conversation, event: dict[str, Any], text: str, *, mentioned: bool) -> None:
        """Someone else wrote in the customer's thread: the agent reads it under their name, in the
        case's card thread (masked for Tier I); if they asked the bot, they hear whose chat it is."""
        user = str(event.get("user") or "")
        case = await self.store.case(conversation.case_id) if conversation.case_id else None
        thread = await self.refs.get(f"case:{case.id}") if case and case.is_open else None
        if thread and self.queue_channel and text:
            name = await self.names.name_now(user, event) or "Someone"
            line = f"*{escape(name)} (not the customer):* {escape(for_role(Role.AGENT, text))}"
            try:
                await self.calls.post_message(channel=self.queue_channel, thread_ts=thread, text=line)
            except DeliveryError as exc:
                log.warning("a bystander's line was not relayed", extra={"error": str(exc)})
        if mentioned:
            _, channel, thread_ts = conversation.id.split(":")
            try:
                await self.client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, text=SOMEONE_ELSES)
            except (SlackApiError, OSError) as exc:
                log.info("a bystander was not told whose chat this is", extra={"error": repr(exc)})
