"""Slack: customers DM (or @mention) the bot; agents work waiting chats in a queue channel's threads.

Inbound, every delivery is verified, recorded in the store's inbox and only then acknowledged;
a worker turns inbox entries into neutral events, so a restart loses nothing and Slack's retries
(same `event_id`) are dropped. Message events take a fast path (signature check and JSON parse
here); interactivity and slash commands go through slack-bolt's `AsyncApp`, which also serves
Socket Mode when `SLACK_APP_TOKEN` is set. Text is read back from Slack's markup
(adapters/slack_markup.py); staff's words become the engine's commands (adapters/slack_commands.py),
and each staff member hears what a command did where they acted (adapters/slack_answers.py,
adapters/slack_confirm.py); in a shared channel's thread only the person who started the chat is
the customer (adapters/slack_shared.py).

Outbound (adapters/slack_outbound.py), the outbox's payloads become Web API calls
(adapters/slack_api.py, and slack_sdk's `AsyncWebClient` with its rate-limit retry handler for the
rest) with our own per-channel pacing; failures stay in the outbox and are retried, and a retry
never posts a message an earlier try posted (adapters/slack_once.py). Cards are kept true by
adapters/slack_cards.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters import edge
from adapters.assist import AgentAssist, QueryError, Suggestion, whole_transcript
from adapters.base import json_error
from adapters.inbox import DurableInbox
from adapters.slack_answers import DirectMessages, Place, StaffAnswers
from adapters.slack_api import SlackCalls
from adapters.slack_blocks import ACCEPT, CLAIM, articles_reply, escape
from adapters.slack_cards import Cards
from adapters.slack_commands import Usage, arguments, bang
from adapters.slack_confirm import confirmation
from adapters.slack_credentials import SlackCredentials
from adapters.slack_help import customer_command, slack_help, slash_names
from adapters.slack_ids import conversation_id
from adapters.slack_markup import plain
from adapters.slack_names import CustomerNames
from adapters.slack_once import OncePoster
from adapters.slack_outbound import ChannelPacer, Outbound
from adapters.slack_refs import SOURCE, Refs
from adapters.slack_settings import consult_channel, slack_id, slack_settings
from adapters.slack_shared import SharedChats
from adapters.slack_turns import merge_turn
from bot.config import RosterEntry, Settings
from bot.domain import Case, Conversation
from bot.events import (
    Action,
    CaseChanged,
    CustomerAction,
    CustomerMessage,
    CustomerNamed,
    Event,
    NotifyStaff,
    Say,
    StaffCommand,
)
from bot.pii import for_role
from bot.ports import Attempt, Line, Port
from bot.runtime import Runtime
from bot.text import TextTooLong, clean

log = logging.getLogger(__name__)


class _OwnClientIsMeant(logging.Filter):
    """Bolt warns at every start that the token (SLACK_BOT_TOKEN, which it reads by itself) is
    unused because a client was given: giving our own client is the point, so that line is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_LOG = logging.getLogger(f"{__name__}.bolt")
_BOLT_LOG.addFilter(_OwnClientIsMeant())

MAX_BODY = 1 << 20
IGNORED_SUBTYPES = frozenset(
    {
        "message_changed", "message_deleted", "message_replied", "channel_join", "channel_leave",
        "channel_topic", "channel_purpose", "channel_name", "group_join", "group_leave", "pinned_item",
        "unpinned_item", "ekm_access_denied", "bot_add", "bot_remove", "tombstone", "thread_broadcast",
    }
)
# Interaction payload types Slack sends; those other than block actions (shortcuts, modals,
# external selects: the manifest declares none) are acknowledged and dropped by a listener of
# their own, since bolt answers a request no listener matches with 404 (over HTTP) or no ack at
# all (Socket Mode), which Slack shows the person as an error.
INTERACTIONS = frozenset({"block_actions", "block_suggestion", "shortcut", "message_action", "view_submission", "view_closed"})
_MENTION = re.compile(r"<@[A-Z0-9]+>")
_CASE_NUMBER = re.compile(r"^[A-Z]{1,5}-\d{1,10}$")


@dataclass(frozen=True)
class Step:
    """One event a delivery turns into; `opening` is the customer's conversation, opened first if
    it is new; `place` is where a staff member acted (their answers are shown there)."""

    event: Event
    opening: Conversation | None = None
    place: Place | None = None


class SlackAdapter(Port):
    name = SOURCE
    serves_staff = True
    shows_customer_messages = False  # the customer's words are already in Slack
    durable = True

    def __init__(self, runtime: Runtime, settings: Settings, credentials: SlackCredentials, assist: AgentAssist) -> None:
        self.runtime = runtime
        self.assist = assist
        self.settings = settings
        self.slack = slack_settings(settings)
        self.credentials = credentials
        kwargs: dict[str, Any] = {"token": credentials.bot_token}
        if credentials.api_url:
            kwargs["base_url"] = credentials.api_url
        self.client = AsyncWebClient(**kwargs)
        self.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
        self.calls = SlackCalls(self.client.base_url, credentials.bot_token)
        self.once = OncePoster(self.calls, runtime.clock)
        self.refs = Refs(runtime.store)
        dms = DirectMessages(self.client, self.refs)
        self.answers = StaffAnswers(self.client, self.calls, self.once, self.refs, dms, self.slack.queue_channel)
        # over HTTP only; Socket Mode deliveries come over the app-token websocket, unsigned
        self.verifier = SignatureVerifier(credentials.signing_secret) if credentials.signing_secret else None
        self.by_slack_id = {slack_id(e): e for e in settings.roster if slack_id(e)}
        self.consult_channels = {consult_channel(g) for g in settings.sme_groups if consult_channel(g)}
        # slash commands taken through the inbox (recorded, acked, then turned): all but /kb, answered in its ack
        self._recorded_commands = {slash: name for name, slash in slash_names(self.slack).items() if name != "kb"}
        self.bot_user_id = ""
        self.bot_id = ""
        self.inbox = DurableInbox[list[Step]](runtime, SOURCE, translate=self.translate, carry_out=self._run_steps)
        self.counts = self.inbox.counts  # for /metrics (adapters/metrics.py): deliveries, and Slack's notices
        self.names = CustomerNames(self.client, self._named)
        pacer = ChannelPacer(float(self.slack.channel_pace))
        self.cards = Cards(runtime, settings, self.calls, self.once, assist, self.refs, take_slot=pacer.take, learn_name=self._learn_name)
        self.shared = SharedChats(self.client, runtime.store, self.refs, self.calls, self.once, dms, self.names, runtime.clock,
                                  settings.spiels, self.slack.queue_channel)
        self.outbound = Outbound(runtime.store, settings, self.calls, self.once, self.refs, pacer,
                                 answers=self.answers, cards=self.cards, shared=self.shared)
        self.bolt = self._bolt_app()

    # ----- wiring ---------------------------------------------------------------------------------

    def setup(self, app: web.Application) -> None:
        # Without a signing secret nothing posted there could be verified: Socket Mode only.
        if self.credentials.signing_secret:
            app.router.add_post("/slack/events", self.handle_http)
        app.cleanup_ctx.append(self._lifecycle)

    async def _lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        # one keep-alive session for every Web API call (slack_sdk opens one per call otherwise)
        self.client.session = self.calls.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        await self._identify()
        if not self.slack.queue_channel:
            log.warning("slack is on but [slack] queue_channel is not set: waiting chats, notes and consult cards "
                        "reach staff only on the agent console")
        tasks = [asyncio.create_task(job) for job in (self.inbox.run(), self._refresh_waiting(), self.names.run())]
        socket_mode = None
        if self.credentials.app_token:
            from slack_bolt.adapter.socket_mode.async_handler import (
                AsyncSocketModeHandler,
            )

            socket_mode = AsyncSocketModeHandler(self.bolt, self.credentials.app_token)
            # in the background: its connect() retries until Slack answers, and start-up must not wait
            tasks.append(asyncio.create_task(socket_mode.connect_async()))  # type: ignore[no-untyped-call]
        yield
        if socket_mode is not None:
            await socket_mode.close_async()  # type: ignore[no-untyped-call]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.session.close()

    async def _identify(self) -> None:
        """Learns the bot's own user and bot ids, to ignore its own echoes."""
        try:
            who = await self.client.auth_test()
        except Exception:
            log.exception("slack auth.test failed; until it answers, the bot's own messages are recognised by the deliveries' app id")
            return
        self.bot_user_id = str(who.get("user_id") or "")
        self.bot_id = str(who.get("bot_id") or "")

    def _bolt_app(self) -> AsyncApp:
        bolt = AsyncApp(
            logger=_BOLT_LOG,
            signing_secret=self.credentials.signing_secret,
            request_verification_enabled=bool(self.credentials.signing_secret),  # our handler verifies HTTP first
            client=self.client,
            raise_error_for_unhandled_request=False,
            process_before_response=True,  # else Bolt acks events before our listener has recorded them
        )
        bolt.action(re.compile(r".*"))(self._on_action)
        bolt.command(re.compile(r".*"))(self._on_command)
        bolt.event(re.compile(r".*"))(self._on_event)  # every event is acked, as over HTTP; unknown ones are dropped later
        for register in (bolt.shortcut, bolt.view, bolt.view_closed):  # unused interactions: acked, dropped
            register(re.compile(r".*"))(self._on_unused)
        bolt.options(re.compile(r".*"))(self._on_options)
        bolt.middleware(self._platform_notices)
        return bolt

    # ----- inbound: acknowledge fast, after recording ------------------------------------------

    async def handle_http(self, request: web.Request) -> web.StreamResponse:
        body = await _whole_body(request, MAX_BODY)
        if body is None:
            return json_error(413, "Request body too large.")
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if self.verifier is None or not timestamp or not signature:
            return json_error(401, "Invalid or expired Slack signature.")
        signed = edge.utf8(body)  # what Slack signs; the verifier fails on anything else
        timestamp = edge.digits(timestamp, name="X-Slack-Request-Timestamp")
        if not self.verifier.is_valid(signed, timestamp, edge.ascii_text(signature, name="X-Slack-Signature")):
            return json_error(401, "Invalid or expired Slack signature.")
        content_type = request.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            payload = edge.json_value(body)
            if not isinstance(payload, dict):
                return json_error(400, "The body must be a JSON object.")
            return await self._events_api(payload)
        if content_type.startswith("application/x-www-form-urlencoded"):
            try:
                form = parse_qs(signed, strict_parsing=True)
            except ValueError:
                return json_error(400, "The body is not a valid form.")
            if "payload" not in form and "command" not in form:
                return json_error(400, "Expected an interaction payload or a slash command.")
            if "payload" in form and (refused := _not_an_interaction(form["payload"][0])) is not None:
                return refused
            response = await self.bolt.async_dispatch(
                AsyncBoltRequest(body=signed, query=request.query_string, headers=dict(request.headers))
            )
            text = response.body
            kind = "application/json" if text.startswith("{") else "text/plain"
            return web.Response(status=response.status, text=text, content_type=kind)
        return json_error(415, "Expected JSON or a form body.")

    async def _events_api(self, payload: dict[str, Any]) -> web.Response:
        kind = payload.get("type")
        if kind == "url_verification":
            return web.json_response({"challenge": str(payload.get("challenge", ""))})
        if kind == "app_rate_limited":
            self._rate_limited(payload)
            return web.Response(status=200)
        if kind != "event_callback" or not isinstance(payload.get("event"), dict):
            return web.Response(status=200)  # acknowledged and ignored, so Slack does not retry
        event_id = str(payload.get("event_id") or "")
        if not event_id:
            return json_error(400, "An event_callback needs an event_id.")
        await self.record(event_id, {"kind": "event", "event": payload["event"], "app": str(payload.get("api_app_id") or "")})
        return web.Response(status=200)

    async def record(self, event_id: str, item: dict[str, Any]) -> bool:
        """Stores a delivery before it is acknowledged (adapters/inbox.py)."""
        return await self.inbox.record(event_id, item)

    async def _on_event(self, body: dict[str, Any], ack: AsyncAck) -> None:
        """Socket Mode deliveries of events (HTTP ones take the fast path)."""
        event = body.get("event")
        if isinstance(event, dict) and body.get("event_id"):
            await self.record(str(body["event_id"]), {"kind": "event", "event": event, "app": str(body.get("api_app_id") or "")})
        await ack()

    async def _on_action(self, body: dict[str, Any], ack: AsyncAck) -> None:
        actions = body.get("actions") or [{}]
        key = str(body.get("trigger_id") or actions[0].get("action_ts") or time.time())
        await self.record(f"action:{key}", {"kind": "action", "body": body})
        await ack()

    def _rate_limited(self, notice: dict[str, Any]) -> None:
        """Slack is dropping this workspace's events (over 30,000 an hour): an operator must know."""
        self.counts["rate_limited_notice"] += 1
        log.warning("slack is rate limiting the app's events; some deliveries are being dropped",
                    extra={"team_id": str(notice.get("team_id", "")), "minute": notice.get("minute_rate_limited")})

    async def _platform_notices(self, body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> BoltResponse | None:
        """Over Socket Mode, Slack's notices that carry no event (app_rate_limited) reach bolt, which
        has no listener for them and would never ack: noted and acknowledged here."""
        if body.get("type") == "app_rate_limited":
            self._rate_limited(body)
            return BoltResponse(status=200, body="")
        await next()
        return None

    async def _on_unused(self, body: dict[str, Any], ack: AsyncAck) -> None:
        log.info("slack interaction ignored", extra={"kind": str(body.get("type", ""))})
        await ack()

    async def _on_options(self, ack: AsyncAck) -> None:
        """An external select asking for options (the bot posts none): it gets an empty list."""
        await ack(options=[])

    async def _on_command(self, body: dict[str, Any], ack: AsyncAck) -> None:
        staff = self.by_slack_id.get(str(body.get("user_id") or ""))
        if staff is None:
            await ack(text="Only support staff on the roster can use this command.")
            return
        command = str(body.get("command") or "")
        if command == self.slack.command_kb:  # read-only: answered in the acknowledgement
            await ack(**await self._articles_for(staff, plain(str(body.get("text") or ""))))
            return
        if command not in self._recorded_commands:  # so is help
            await ack(text=slack_help(self.slack, unknown=command[:40]))
            return
        key = str(body.get("trigger_id") or f"{body.get('user_id')}:{time.time()}")
        await self.record(f"command:{key}", {"kind": "command", "body": body})
        await ack()

    # ----- the inbox worker: recorded deliveries → neutral events --------------------------------

    async def _run_steps(self, event_id: str, steps: list[Step]) -> None:
        """A delivery's events in order; the last finishes the delivery in its own commit."""
        if not steps:
            await self.inbox.finish(event_id)
            return
        for index, step in enumerate(steps):
            last = index == len(steps) - 1
            staff = self._acting(step)
            if staff is not None and step.place is not None:
                await self.answers.acted(staff, step.place)  # the engine's replies to them are shown there
            actions = await self.runtime.handle(step.event, inbound=(SOURCE, event_id) if last else None, opening=step.opening)
            if staff is not None:
                await self._confirm(staff, step, actions)

    def _acting(self, step: Step) -> RosterEntry | None:
        """The staff member whose command the step is."""
        return self.settings.staff(step.event.staff_id) if isinstance(step.event, StaffCommand) else None

    async def _confirm(self, staff: RosterEntry, step: Step, actions: list[Action]) -> None:
        """Tells the caller what their command did when the engine told them nothing
        (adapters/slack_confirm.py)."""
        command = step.event
        if not isinstance(command, StaffCommand) or command.case_id is None:
            return
        line = confirmation(command, actions, await self.runtime.store.case(command.case_id), self.settings)
        if line:
            await self.answers.tell(staff, escape(line), place=step.place)

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
        return f"<@{self.bot_user_id}>" in text if self.bot_user_id else bool(_MENTION.search(text))

    def _from_a_bot(self, event: dict[str, Any], app_id: str = "") -> bool:
        """Own messages are always ignored; other bots' only unless allowed. A message is the bot's
        own when it names the bot's user or bot id (from auth.test) or this app (the delivery's
        `api_app_id`): the last holds even when auth.test failed at start-up, so with
        `allow_bots` the bot can never answer its own echo and talk to itself."""
        bot_id, user = event.get("bot_id"), event.get("user")
        if (bot_id and bot_id == self.bot_id) or (user and user == self.bot_user_id):
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

    async def _named(self, conversation_id: str, name: str) -> None:
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
        command = self._recorded_commands.get(str(body.get("command") or ""))
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

    async def _articles_for(self, staff: RosterEntry, words: str) -> dict[str, Any]:
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

    # ----- outbound ---------------------------------------------------------------------------------

    def wants(self, action: NotifyStaff | CaseChanged) -> bool:
        """Not new-chat notices (the queue card shows those) nor changes to a case without a card."""
        if isinstance(action, CaseChanged):
            return action.queue_card
        return action.kind != "queue_new"

    def shape(self, lines: Sequence[Say]) -> list[Say]:
        return merge_turn(lines)

    async def show(self, line: Line, attempt: Attempt) -> None:
        await self.outbound.show(line, attempt)

    async def notify(self, notice: NotifyStaff, attempt: Attempt) -> None:
        await self.outbound.notify(notice, attempt)

    async def case_changed(self, change: CaseChanged, attempt: Attempt) -> None:
        await self.outbound.case_changed(change, attempt)


    async def _learn_name(self, case: Case) -> None:
        """A person is about to take the chat, and their spiels ("Hi Jo, ...") use the customer's
        name: look it up now if Slack did not send it. Bot-only chats never need it."""
        if case.customer_name:
            return
        conversation = await self.runtime.store.conversation(case.conversation_id)
        if conversation is not None and conversation.customer_ref:
            self.names.look_up(conversation.customer_ref, conversation.id)

    async def _refresh_waiting(self) -> None:
        """Waiting times on queue cards tick once a minute."""
        while True:
            await asyncio.sleep(60)
            try:
                await self.cards.refresh_waiting()
            except Exception:
                log.exception("refreshing slack queue cards failed")


async def _whole_body(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None when it is longer than `limit` (declared or sent: a chunked body
    declares nothing). One `read(n)` returns only what has arrived so far, and a body that came in
    several TCP segments would then be verified truncated, and refused."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _not_an_interaction(raw: str) -> web.Response | None:
    """A 400 for an interaction payload that is not JSON, of a type Slack does not send, or block
    actions without their actions (bolt would fail on it with a 500), else None."""
    try:
        payload = edge.json_value(raw, what="The interaction payload")
    except edge.Refused as refused:
        return refused.response()
    if not isinstance(payload, dict) or payload.get("type") not in INTERACTIONS:
        return json_error(400, "Unsupported interaction payload type.")
    actions = payload.get("actions")
    if payload["type"] == "block_actions" and not (
        isinstance(actions, list) and actions and all(isinstance(a, dict) and a.get("action_id") for a in actions)
    ):
        return json_error(400, "A block_actions payload needs a list of actions, each with an action_id.")
    return None
