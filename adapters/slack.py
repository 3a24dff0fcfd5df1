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
from adapters.assist import AgentAssist
from adapters.base import json_error
from adapters.inbox import DurableInbox
from adapters.slack_answers import DirectMessages, StaffAnswers
from adapters.slack_api import SlackCalls
from adapters.slack_blocks import escape
from adapters.slack_cards import Cards
from adapters.slack_confirm import confirmation
from adapters.slack_credentials import SlackCredentials
from adapters.slack_help import slack_help
from adapters.slack_inbound import BotIdentity, SlackInbound, Step
from adapters.slack_markup import plain
from adapters.slack_names import CustomerNames
from adapters.slack_once import OncePoster
from adapters.slack_outbound import ChannelPacer, Outbound
from adapters.slack_refs import SOURCE, Refs
from adapters.slack_settings import slack_settings
from adapters.slack_shared import SharedChats
from adapters.slack_turns import merge_turn
from bot.config import RosterEntry, Settings
from bot.domain import Case
from bot.events import (
    Action,
    CaseChanged,
    NotifyStaff,
    Say,
    StaffCommand,
)
from bot.ports import Attempt, Line, Port
from bot.runtime import Runtime

log = logging.getLogger(__name__)


class _OwnClientIsMeant(logging.Filter):
    """Bolt warns at every start that the token (SLACK_BOT_TOKEN, which it reads by itself) is
    unused because a client was given: giving our own client is the point, so that line is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_LOG = logging.getLogger(f"{__name__}.bolt")
_BOLT_LOG.addFilter(_OwnClientIsMeant())

MAX_BODY = 1 << 20
# Interaction payload types Slack sends; those other than block actions (shortcuts, modals,
# external selects: the manifest declares none) are acknowledged and dropped by a listener of
# their own, since bolt answers a request no listener matches with 404 (over HTTP) or no ack at
# all (Socket Mode), which Slack shows the person as an error.
INTERACTIONS = frozenset({"block_actions", "block_suggestion", "shortcut", "message_action", "view_submission", "view_closed"})


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
        self.names = CustomerNames(self.client, lambda chat, name: self.inbound.named(chat, name))
        pacer = ChannelPacer(float(self.slack.channel_pace))
        self.cards = Cards(runtime, settings, self.calls, self.once, assist, self.refs, take_slot=pacer.take, learn_name=self._learn_name)
        self.shared = SharedChats(self.client, runtime.store, self.refs, self.calls, self.once, dms, self.names, runtime.clock,
                                  settings.spiels, self.slack.queue_channel)
        self.outbound = Outbound(runtime.store, settings, self.calls, self.once, self.refs, pacer,
                                 answers=self.answers, cards=self.cards, shared=self.shared)
        self.me = BotIdentity()
        self.inbound = SlackInbound(
            runtime, settings, self.me, client=self.client, answers=self.answers, shared=self.shared, names=self.names,
            assist=assist, refs=self.refs, outbound=self.outbound,
        )
        self.inbox = DurableInbox[list[Step]](runtime, SOURCE, translate=self.inbound.translate, carry_out=self._run_steps)
        self.counts = self.inbox.counts  # for /metrics (adapters/metrics.py): deliveries, and Slack's notices
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
        self.me.user_id = str(who.get("user_id") or "")
        self.me.bot_id = str(who.get("bot_id") or "")

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
        staff = self.inbound.by_slack_id.get(str(body.get("user_id") or ""))
        if staff is None:
            await ack(text="Only support staff on the roster can use this command.")
            return
        command = str(body.get("command") or "")
        if command == self.slack.command_kb:  # read-only: answered in the acknowledgement
            await ack(**await self.inbound.articles_for(staff, plain(str(body.get("text") or ""))))
            return
        if command not in self.inbound.recorded_commands:  # so is help
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
