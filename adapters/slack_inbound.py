"""Slack in: recorded deliveries (events, interactions, slash commands) turned into the engine's
neutral events. Who is staff, which thread is which case, what a command means in Slack's terms
and what a customer's message is are decided here; the adapter (adapters/slack.py) records,
acknowledges and runs the steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.assist import AgentAssist, QueryError, Suggestion, whole_transcript
from adapters.slack_answers import Place, StaffAnswers
from adapters.slack_blocks import ACCEPT, CLAIM, articles_reply
from adapters.slack_commands import Usage, arguments, bang
from adapters.slack_help import customer_command, slack_help, slash_names
from adapters.slack_ids import conversation_id
from adapters.slack_markup import plain
from adapters.slack_names import CustomerNames
from adapters.slack_outbound import Outbound
from adapters.slack_refs import SOURCE, Refs
from adapters.slack_settings import consult_channel, slack_id, slack_settings
from adapters.slack_shared import SharedChats
from bot.config import RosterEntry, Settings
from bot.domain import Case, Conversation
from bot.events import (
    CustomerAction,
    CustomerMessage,
    CustomerNamed,
    Event,
    StaffCommand,
)
from bot.pii import for_role
from bot.runtime import Runtime
from bot.text import TextTooLong, clean

# message subtypes that are not someone writing to us: acknowledged and dropped
IGNORED_SUBTYPES = frozenset(
    {
        "message_changed", "message_deleted", "message_replied", "channel_join", "channel_leave",
        "channel_topic", "channel_purpose", "channel_name", "group_join", "group_leave", "pinned_item",
        "unpinned_item", "ekm_access_denied", "bot_add", "bot_remove", "tombstone", "thread_broadcast",
    }
)
_MENTION = re.compile(r"<@[A-Z0-9]+>")
_CASE_NUMBER = re.compile(r"^[A-Z]{1,5}-\d{1,10}$")


@dataclass
class BotIdentity:
    """The bot's own ids, learnt from auth.test at start-up (its own echoes are ignored by them)."""

    user_id: str = ""
    bot_id: str = ""


@dataclass(frozen=True)
class Step:
    """One event a delivery turns into; `opening` is the customer's conversation, opened first if
    it is new; `place` is where a staff member acted (their answers are shown there)."""

    event: Event
    opening: Conversation | None = None
    place: Place | None = None


class SlackInbound:
    def __init__(
        self, runtime: Runtime, settings: Settings, me: BotIdentity, *, client: AsyncWebClient, answers: StaffAnswers,
        shared: SharedChats, names: CustomerNames, assist: AgentAssist, refs: Refs, outbound: Outbound,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.slack = slack_settings(settings)
        self.me = me
        self.client = client
        self.answers = answers
        self.shared = shared
        self.names = names
        self.assist = assist
        self.refs = refs
        self.outbound = outbound
        self.by_slack_id = {slack_id(e): e for e in settings.roster if slack_id(e)}
        self.consult_channels = {consult_channel(g) for g in settings.sme_groups if consult_channel(g)}
        # slash commands taken through the inbox (recorded, acked, then turned): all but /kb, answered in its ack
        self.recorded_commands = {slash: name for name, slash in slash_names(self.slack).items() if name != "kb"}

    async def translate(self, item: dict[str, Any]) -> list[Step]:
        kind = item.get("kind")
        if kind == "event":
            return await self._translate_event(item["event"], str(item.get("app") or ""))
        if kind == "action":
            return await self._translate_action(item["body"])
        if kind == "command":
            return await self._translate_command(item["body"])
        return []

    async def _translate_event(self, event: dict[str, Any], app_id: str = "") -> list[Step]:
        kind, subtype = event.get("type"), event.get("subtype")
        if kind not in ("message", "app_mention") or subtype in IGNORED_SUBTYPES:
            return []
        if self._from_a_bot(event, app_id):
            return []
        user = str(event.get("user") or "")
        channel = str(event.get("channel") or "")
        text = plain(str(event.get("text") or ""))
        if subtype == "file_share":
            names = ", ".join(str(f.get("name", "file")) for f in event.get("files", []) if isinstance(f, dict))
            text = f"{text}\n(shared a file: {names or 'file'})".strip()
        if not user or not channel:
            return []
        thread_ts = str(event.get("thread_ts") or "")
        if channel == self.slack.queue_channel:
            if kind == "message" and thread_ts and user in self.by_slack_id:
                return await self._staff_thread_message(self.by_slack_id[user], Place(channel, thread_ts), text)
            return []
        if channel in self.consult_channels:
            if kind == "message" and thread_ts and user in self.by_slack_id:
                return await self._consult_thread_message(self.by_slack_id[user], Place(channel, thread_ts), text)
            return []
        if kind == "message" and event.get("channel_type") == "im":
            shared = await self.shared.answering(channel)
            if shared is not None:  # an answer to personal questions a shared chat asked here, privately
                steps = await self._customer_text(shared, event, text)
                if steps:
                    await self.shared.thank_privately(channel, shared)
                return steps
            return await self._customer_text(conversation_id(channel), event, text)
        if kind == "app_mention" and self.slack.customer_mentions:
            chat = conversation_id(channel, thread_ts or str(event.get("ts", "")))
            return await self._shared_text(chat, event, _MENTION.sub("", text).strip(), mentioned=True)
        if kind == "message" and thread_ts and self.slack.customer_mentions and user not in self.by_slack_id \
                and not self._mentions_the_bot(text):
            # a customer's reply in the thread of a chat a mention opened needs no mention of its own
            # (staff answer from the queue card's thread; their words here are not the customer's)
            chat = conversation_id(channel, thread_ts)
            if await self.runtime.store.conversation(chat) is not None:
                return await self._shared_text(chat, event, text, mentioned=False)
        return []

    async def _shared_text(self, conversation_id: str, event: dict[str, Any], text: str, *, mentioned: bool) -> list[Step]:
        """A message in a shared channel's chat thread: the customer's if they started the chat (or
        are starting one now), else someone else's, whom the agent hears under their own name."""
        conversation = await self.runtime.store.conversation(conversation_id)
        if conversation is not None and conversation.customer_ref and conversation.customer_ref != event["user"]:
            await self.shared.not_the_customer(conversation, event, text, mentioned=mentioned)
            return []
        return await self._customer_text(conversation_id, event, text)

    def _mentions_the_bot(self, text: str) -> bool:
        """Whether Slack also sends this message as an `app_mention` (which then answers it). Until
        auth.test has told the bot its user id, any mention counts: better unanswered than twice."""
        return f"<@{self.me.user_id}>" in text if self.me.user_id else bool(_MENTION.search(text))

    def _from_a_bot(self, event: dict[str, Any], app_id: str = "") -> bool:
        """Own messages are always ignored; other bots' only unless allowed. A message is the bot's
        own when it names the bot's user or bot id (from auth.test) or this app (the delivery's
        `api_app_id`): the last holds even when auth.test failed at start-up, so with
        `allow_bots` the bot can never answer its own echo and talk to itself."""
        bot_id, user = event.get("bot_id"), event.get("user")
        if (bot_id and bot_id == self.me.bot_id) or (user and user == self.me.user_id):
            return True
        profile = event.get("bot_profile")
        apps = {event.get("app_id"), profile.get("app_id") if isinstance(profile, dict) else None}
        if app_id and app_id in apps:
            return True
        return bool(bot_id or event.get("subtype") == "bot_message") and not self.slack.allow_bots

    async def _customer_text(self, conversation_id: str, event: dict[str, Any], raw: str) -> list[Step]:
        try:
            text = clean(raw, limit=self.settings.server.max_message_chars)
        except TextTooLong as exc:
            await self.outbound.post_direct(conversation_id, self.settings.spiels.too_long.format(length=exc.length, limit=exc.limit))
            return []
        if not text.strip():
            return []
        user = str(event["user"])
        opening = Conversation(
            conversation_id,
            SOURCE,
            customer_name=self.names.known(user, event),
            created_at=self.runtime.clock.now(),
            customer_ref=user,
        )
        return [Step(CustomerMessage(conversation_id, customer_command(text, self.slack)), opening)]

    async def named(self, conversation_id: str, name: str) -> None:
        await self.runtime.handle(CustomerNamed(conversation_id, name))

    async def _thread_text(self, staff: RosterEntry, place: Place, ref_key: str, raw: str) -> tuple[int, str] | None:
        """The case a staff thread belongs to and the cleaned text; None when it is not ours, empty
        or too long (the writer is told, ephemerally)."""
        case_ref = await self.refs.get(ref_key)
        if case_ref is None:
            return None
        try:
            text = clean(raw, limit=self.settings.server.max_message_chars).strip()
        except TextTooLong as exc:
            await self.answers.tell(staff, self.settings.spiels.too_long.format(length=exc.length, limit=exc.limit), place=place)
            return None
        return (int(case_ref.partition(":")[0]), text) if text else None

    async def _staff_thread_message(self, staff: RosterEntry, place: Place, raw: str) -> list[Step]:
        """The agent's side of a customer chat, in its queue card's thread: notes, !commands, replies."""
        found = await self._thread_text(staff, place, f"thread:{place.thread_ts}", raw)
        if found is None:
            return []
        case_id, text = found
        prefix = self.slack.note_prefix
        if prefix and text.lower().startswith(prefix.lower()):
            return [Step(StaffCommand(staff.id, "note", case_id, text[len(prefix):].strip()), place=place)]
        command = bang(text, self.slack)
        if command is None:
            return [Step(StaffCommand(staff.id, "say", case_id, text), place=place)]
        return await self._thread_command(staff, place, case_id, *command, origin="")

    async def _consult_thread_message(self, staff: RosterEntry, place: Place, raw: str) -> list[Step]:
        """Agent and SME talk in the consult card's thread; '!endconsult' and '!pause' end it."""
        found = await self._thread_text(staff, place, f"consult_thread:{place.thread_ts}", raw)
        if found is None:
            return []
        case_id, text = found
        command = bang(text, self.slack)
        if command is None:
            return [Step(StaffCommand(staff.id, "consult", case_id, text, origin=SOURCE), place=place)]
        return await self._thread_command(staff, place, case_id, *command, origin=SOURCE)

    async def _thread_command(self, staff: RosterEntry, place: Place, case_id: int, name: str, rest: str, *, origin: str) -> list[Step]:
        """`!name rest` typed in a thread: the engine's command, or (help, a usage) an answer here.
        `origin` is SOURCE in a consult's thread, where what the command says is seen already."""
        if name == "help":
            await self.answers.tell(staff, slack_help(self.slack), place=place)
            return []
        try:
            text = arguments(name, rest, self.slack, self.by_slack_id)
        except Usage as usage:
            await self.answers.tell(staff, str(usage), place=place)
            return []
        return [Step(StaffCommand(staff.id, name, case_id, text, origin=origin), place=place)]

    async def _translate_action(self, body: dict[str, Any]) -> list[Step]:
        user = str((body.get("user") or {}).get("id") or "")
        actions = body.get("actions") or []
        if not user or not actions or not isinstance(actions[0], dict):
            return []
        action_id = str(actions[0].get("action_id") or "").partition("#")[0]
        value = str(actions[0].get("value") or "")
        channel = str((body.get("channel") or {}).get("id") or "")
        if action_id in (ACCEPT, CLAIM):
            staff = self.by_slack_id.get(user)
            if staff is None or not value.isdigit():
                if channel:
                    what = "accept chats" if action_id == ACCEPT else "claim consults"
                    await self.client.chat_postEphemeral(channel=channel, user=user, text=f"Only support staff can {what}.")
                return []
            event = StaffCommand(staff.id, "accept", int(value)) if action_id == ACCEPT else StaffCommand(staff.id, "claim", int(value), origin=SOURCE)
            return [Step(event, place=Place(channel) if channel else None)]
        thread_ts = str((body.get("message") or {}).get("thread_ts") or (body.get("container") or {}).get("thread_ts") or "")
        chat = conversation_id(channel, thread_ts)
        if await self.runtime.store.conversation(chat) is None:
            return []
        return [Step(CustomerAction(chat, action_id[:200], value[:200]))]

    async def _translate_command(self, body: dict[str, Any]) -> list[Step]:
        staff = self.by_slack_id.get(str(body.get("user_id") or ""))
        if staff is None:
            return []
        command = self.recorded_commands.get(str(body.get("command") or ""))
        if command is None:  # recorded by an earlier version, or since renamed
            return []
        channel = str(body.get("channel_id") or "")
        place = Place(channel) if channel else None
        words = plain(str(body.get("text") or "")).split()
        if command == "status":
            return [Step(StaffCommand(staff.id, "status", None, " ".join(words)), place=place)]
        named = words[0].upper() if words and _CASE_NUMBER.match(words[0].upper()) else ""
        case, words = await self._case_for(staff, words)
        if case is None:
            await self.answers.tell(staff, f"There is no case {named}." if named else
                                    "Which case? Add its number (e.g. CS-000123); you have no single open chat.", place=place)
            return []
        try:
            text = arguments(command, " ".join(words), self.slack, self.by_slack_id)
        except Usage as usage:
            await self.answers.tell(staff, str(usage), place=place)
            return []
        return [Step(StaffCommand(staff.id, command, case.id, text), place=place)]

    async def articles_for(self, staff: RosterEntry, words: str) -> dict[str, Any]:
        """Agent assist: articles for the words given, else for the customer's last message in the
        caller's one open chat. What was searched is shown as the caller's role may see it."""
        if words.strip():
            try:
                found = await self.assist.search(words)
            except QueryError as exc:
                return {"text": str(exc)}
        else:
            case, _ = await self._case_for(staff, [])
            if case is None:
                return {"text": "Add the words to search for (you have no single open chat to take them from)."}
            words, found = await self._case_articles(case)
        return articles_reply(found, for_role(staff.role, words.strip()))

    async def _case_articles(self, case: Case) -> tuple[str, list[Suggestion]]:
        """Agent assist for a case: the words searched and the articles found (adapters/assist.py)."""
        return await self.assist.for_case(case, await whole_transcript(self.runtime.store, case.conversation_id))

    async def _case_for(self, staff: RosterEntry, words: list[str]) -> tuple[Case | None, list[str]]:
        """A command's case: a case number given first, else the caller's one open chat."""
        if words and _CASE_NUMBER.match(words[0].upper()):
            return await self.runtime.store.case_by_number(words[0].upper()), words[1:]
        mine = [c for c in await self.runtime.store.cases_of_staff(staff.id) if c.is_open]
        return (mine[0] if len(mine) == 1 else None), words
