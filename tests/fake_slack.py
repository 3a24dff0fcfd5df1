"""A local, scriptable stand-in for Slack, for end-to-end tests of the Slack adapter.

Two halves:

* :class:`FakeSlack` is the Slack Web API (``https://slack.com/api/``) served by aiohttp on
  127.0.0.1 at a free port. Point the real ``AsyncWebClient`` at ``slack.api_url`` (this is what
  ``SLACK_API_URL`` is set to) and it answers like Slack, records every call, and can be told to
  rate-limit, fail or stall chosen methods. It is also Slack's Socket Mode side: with an app-level
  token (``xapp-``), ``apps.connections.open`` hands out a ``ws://`` URL on the same server, and
  the fake then plays Slack on that websocket (``hello``, envelopes, ``disconnect``) and records
  the app's acks. slack_sdk's aiohttp Socket Mode client connects to it unchanged. Messages it
  posts keep Slack's wall-clock ``ts`` and their ``metadata``, which ``conversations.history`` and
  ``conversations.replies`` return as Slack does (``oldest``/``latest``/``inclusive``, ``limit`` with
  a cursor, metadata only with ``include_all_metadata``). As in Slack, the bot can show someone an
  ephemeral message in a DM only in its own DM with them (``dm_of``): in a DM between two people
  it is not in, ``chat.postEphemeral`` answers ``channel_not_found``.
* :class:`SlackSender` plays Slack's side of the inbound traffic: it posts properly signed Events
  API deliveries, interactivity payloads and slash commands to the app under test.

The approach mirrors bolt-python's own tests (a local mock Web API server and the real client's
``base_url`` pointed at it), written from scratch for supportbot.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientSession, WSCloseCode, WSMsgType, web
from aiohttp.test_utils import TestClient
from slack_sdk.signature import SignatureVerifier

TEAM_ID = "T0001"
TEAM_NAME = "Example"
TEAM_DOMAIN = "example"
TEAM_URL = "https://example.slack.com/"
APP_ID = "A0001"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
BOT_NAME = "supportbot"
TOKEN_PREFIXES = ("xoxb-", "xapp-")

# Fields Slack accepts as JSON-encoded strings in form bodies (and slack_sdk passes through as-is).
JSON_STRING_FIELDS = frozenset(
    {"blocks", "attachments", "metadata", "view", "unfurls", "user_auth_blocks", "accessory", "options"}
)


@dataclass(frozen=True)
class Call:
    """One request the fake received: method, merged params (query + body), bearer token, arrival time.

    ``status`` and ``response`` are what the fake answered.
    """

    method: str
    params: dict[str, Any]
    token: str | None
    at: float
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))

    def button(self, label: str) -> dict[str, Any]:
        """The Block Kit button with this label in the posted message (AssertionError if none)."""
        for block in self.params.get("blocks") or []:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element["text"]["text"] == label:
                    found: dict[str, Any] = element
                    return found
        raise AssertionError(f"no {label!r} button in {json.dumps(self.params.get('blocks'))[:400]}")


@dataclass(frozen=True)
class Ack:
    """The app's answer to one Socket Mode envelope: which one, the optional response payload (a
    slash command's reply text, for instance) and when it arrived."""

    envelope_id: str
    payload: dict[str, Any] | None
    at: float


@dataclass(frozen=True)
class _Fault:
    status: int
    error: str
    retry_after: int | None = None
    carried_out: bool = False  # the call takes effect, then the error is the answer


class FakeSlack:
    """A fake Slack Web API on 127.0.0.1.

    ``calls`` holds requests answered the way Slack would (including Slack-level errors such as
    ``channel_not_found``, ``unknown_method`` or ``invalid_auth``); ``attempts`` holds every request
    received, including those answered by an injected fault (``rate_limit``/``fail``).

    Socket Mode: ``acks`` holds every acknowledgement the app sent, in order of arrival, and
    ``socket_connections`` counts the websocket connections accepted so far (a reconnect adds one).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.calls: list[Call] = []
        self.attempts: list[Call] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        # by (method, channel or None for any): None in the queue answers that call as usual
        self._faults: dict[tuple[str, str | None], deque[_Fault | None]] = {}
        self._delays: dict[str, float] = {}
        self._in_flight: collections.Counter[str] = collections.Counter()
        self._users: dict[str, dict[str, Any]] = {}
        self._hooks = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.acks: list[Ack] = []
        self.socket_connections = 0
        self._sockets: list[web.WebSocketResponse] = []
        self._tickets: set[str] = set()
        self._waiting_acks: dict[str, asyncio.Future[Ack]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/{kind:actions|commands}/{team}/{hook}/{secret}", self._handle_hook)
        app.router.add_get("/link/", self._handle_socket)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await self.close_sockets()  # or cleanup would wait for their handlers
            await runner.cleanup()

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("FakeSlack is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL, with trailing slash: what ``SLACK_API_URL`` is set to."""
        return f"{self.base_url}/api/"

    # -- scripting ---------------------------------------------------------------------------

    def set_user(
        self,
        user_id: str,
        *,
        real_name: str | None = None,
        display_name: str | None = None,
        name: str | None = None,
        **extra: Any,
    ) -> None:
        """Override what ``users.info`` answers for ``user_id`` (extra keys go into ``user``, e.g. locale, tz)."""
        user = self._default_user(user_id)
        if name is not None:
            user["name"] = name
        if real_name is not None:
            user["real_name"] = real_name
            user["profile"]["real_name"] = real_name
        if display_name is not None:
            user["profile"]["display_name"] = display_name
        user.update(extra)
        self._users[user_id] = user

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls to ``method`` answer HTTP 429 with ``Retry-After: retry_after``."""
        for _ in range(times):
            self._faults.setdefault((method, None), deque()).append(_Fault(429, "ratelimited", retry_after))

    def fail(
        self,
        method: str,
        times: int = 1,
        status: int = 500,
        error: str = "fatal_error",
        *,
        carried_out: bool = False,
        after: int = 0,
        channel: str | None = None,
    ) -> None:
        """After ``after`` calls answered as usual, the next ``times`` calls to ``method`` (with
        ``channel``: to that channel only; its faults come before any channel's) answer ``status``
        with ``{"ok": false, "error": error}``.

        With ``status=200`` this injects a Slack-level error (e.g. ``error="channel_not_found"``).
        With ``carried_out`` each call takes effect first (a post is posted, see ``messages_in``):
        what Slack's ``fatal_error`` or a 5xx may hide. The call is then recorded in ``attempts`` only.
        """
        faults = self._faults.setdefault((method, channel), deque())
        faults.extend([None] * after)
        faults.extend(_Fault(status, error, carried_out=carried_out) for _ in range(times))

    def delay(self, method: str, seconds: float) -> None:
        """Every answer to ``method`` waits ``seconds`` first (0 turns the delay off)."""
        if seconds > 0:
            self._delays[method] = seconds
        else:
            self._delays.pop(method, None)

    def clear(self) -> None:
        """Forget recorded calls, attempts and acks (faults, delays, users, messages and Socket Mode
        connections stay)."""
        self.calls.clear()
        self.attempts.clear()
        self.acks.clear()

    def reset(self) -> None:
        """Forget everything: recordings, pending faults, delays, users and messages."""
        self.clear()
        self._faults.clear()
        self._delays.clear()
        self._users.clear()
        self.messages.clear()

    # -- inspection --------------------------------------------------------------------------

    def in_flight(self, method: str) -> int:
        """Calls to ``method`` received and not answered yet (held by ``delay``). Slack carries such
        a call out even if the caller is gone before the answer."""
        return self._in_flight[method]

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def attempts_to(self, method: str) -> list[Call]:
        return [c for c in self.attempts if c.method == method]

    def posted(self, channel: str | None = None) -> list[Call]:
        """Successful ``chat.postMessage`` calls, optionally only those to ``channel``."""
        return [
            c
            for c in self.calls_to("chat.postMessage")
            if c.ok and (channel is None or c.response.get("channel") == channel)
        ]

    def posted_texts(self, channel: str | None = None) -> list[str]:
        """Texts of successful ``chat.postMessage`` calls, optionally only those to ``channel``."""
        return [str(c.params.get("text") or "") for c in self.posted(channel)]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """Current state of a message posted (and possibly updated) through the fake."""
        return self.messages.get((channel, ts))

    def hold(self, event: Mapping[str, Any]) -> None:
        """A message someone posted in Slack (a customer's ``message`` or ``app_mention`` event, as
        ``SlackSender`` delivers it): Slack's history and threads hold it too."""
        if event.get("type") in ("message", "app_mention") and event.get("channel") and event.get("ts"):
            kept = {k: event[k] for k in ("user", "text", "ts", "thread_ts") if k in event}
            self.messages[(str(event["channel"]), str(event["ts"]))] = {"type": "message", **kept}

    def messages_in(self, channel: str) -> list[dict[str, Any]]:
        """Every message the fake holds in ``channel`` (threads included), oldest first: what people see."""
        return [m for (c, _), m in sorted(self.messages.items(), key=lambda item: float(item[0][1])) if c == channel]

    async def wait_for(
        self, predicate: Callable[[list[Call]], bool], timeout: float = 5.0
    ) -> list[Call]:
        """Poll until ``predicate(self.calls)`` holds; returns the calls, or fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate(list(self.calls)):
                return list(self.calls)
            if time.monotonic() >= deadline:
                seen = "\n".join(f"  {c.method} {c.params}" for c in self.calls) or "  (none)"
                raise AssertionError(f"FakeSlack.wait_for timed out after {timeout}s; calls:\n{seen}")
            await asyncio.sleep(0.01)

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,
    ) -> Call:
        """Wait for the first call to ``method`` that matches ``predicate`` and return it."""

        def match(c: Call) -> bool:
            return c.method == method and (predicate is None or predicate(c))

        calls = await self.wait_for(lambda cs: any(match(c) for c in cs), timeout)
        return next(c for c in calls if match(c))

    def response_url(self, kind: str = "actions") -> str:
        """A fresh response_url served by this fake; posts to it are recorded as method ``response_url``."""
        return f"{self.base_url}/{kind}/{TEAM_ID}/{next(self._hooks)}/{uuid.uuid4().hex[:24]}"

    # -- Socket Mode -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether an app holds an open Socket Mode connection."""
        return any(not ws.closed for ws in self._sockets)

    @property
    def open_sockets(self) -> int:
        """Socket Mode connections open right now (two, briefly, while a client reconnects)."""
        return sum(not ws.closed for ws in self._sockets)

    async def wait_connected(self, connections: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``connections`` websockets have been accepted in all and one is open."""
        deadline = time.monotonic() + timeout
        while not (self.connected and self.socket_connections >= connections):
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"FakeSlack.wait_connected timed out after {timeout}s: {self.socket_connections} "
                    f"connection(s) accepted, {self.open_sockets} open, wanted {connections}"
                )
            await asyncio.sleep(0.01)

    async def socket_send(self, message: Mapping[str, Any] | str) -> None:
        """Send one frame (a dict as JSON, a str as is) on the newest open connection; no waiting
        for an ack, so malformed frames can be sent too."""
        sockets = [ws for ws in self._sockets if not ws.closed]
        if not sockets:
            raise AssertionError("no Socket Mode client is connected")
        text = message if isinstance(message, str) else json.dumps(message)
        await sockets[-1].send_str(text)

    async def push_envelope(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        envelope_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 3.0,
    ) -> Ack:
        """Deliver ``payload`` the way Slack does in Socket Mode and return the app's ack.

        ``kind`` is ``events_api`` (payload: an ``event_callback`` body, see
        ``SlackSender.envelope``), ``interactive`` (a ``block_actions`` payload) or
        ``slash_commands`` (the command's fields); only slash commands get
        ``accepts_response_payload``: they may answer in the ack, block actions may not. Redeliver
        an event with its ``event_id`` and ``retry_attempt=1`` to play Slack's retry. Fails if no
        ack arrives within ``timeout`` (Slack's own limit is 3 s).
        """
        eid = envelope_id or str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": eid,
            "type": kind,
            "accepts_response_payload": kind == "slash_commands",
            "payload": dict(payload),
        }
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        waiter: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._waiting_acks[eid] = waiter
        try:
            await self.socket_send(envelope)
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise AssertionError(f"no ack for {kind} envelope {eid} within {timeout}s") from None
        finally:
            self._waiting_acks.pop(eid, None)

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the connected client to reconnect, as Slack does every few hours (``warning``,
        ``refresh_requested``) or when the app is turned off (``link_disabled``). Slack keeps the
        old socket open meanwhile; the client closes it once its new one is up."""
        await self.socket_send({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}})

    async def close_sockets(self) -> None:
        """Close every open connection from Slack's side (a restart of Slack's edge, a network cut)."""
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"closed by FakeSlack")

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        """One Socket Mode connection: only URLs handed out by ``apps.connections.open`` are
        accepted; ``hello`` first, then every text frame the app sends is taken as an ack. Pings
        are answered (aiohttp's autoping), as slack_sdk's client checks the link with them."""
        if request.query.get("ticket") not in self._tickets:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self.socket_connections += 1
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": self.open_sockets,
                    "debug_info": {"host": "fake-slack", "build_number": 1, "approximate_connection_time": 18060},
                    "connection_info": {"app_id": APP_ID},
                }
            )
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._take_ack(frame.data)
        finally:
            self._sockets.remove(ws)
        return ws

    def _take_ack(self, text: str) -> None:
        """Records an ``{"envelope_id", "payload"?}`` frame; Slack ignores anything else, and so do we."""
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict) or not isinstance(message.get("envelope_id"), str):
            return
        payload = message.get("payload")
        ack = Ack(message["envelope_id"], payload if isinstance(payload, dict) else None, time.time())
        self.acks.append(ack)
        waiter = self._waiting_acks.get(ack.envelope_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(ack)

    def _open_connection(self, token: str) -> dict[str, Any]:
        """``apps.connections.open``: only an app-level token may open one; the URL is this server's."""
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {"ok": True, "url": f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"}

    # -- HTTP --------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        at = time.time()
        method = request.match_info["method"]
        params = await _read_params(request)
        token = _bearer(request.headers.get("Authorization"))
        if token is None and isinstance(params.get("token"), str):
            token = params.pop("token")
        else:
            params.pop("token", None)

        seconds = self._delays.get(method)
        if seconds:
            self._in_flight[method] += 1
            try:
                await asyncio.sleep(seconds)
            finally:
                self._in_flight[method] -= 1

        fault = self._next_fault(method, str(params.get("channel") or ""))
        if fault is not None:
            if fault.carried_out:
                self._answer(method, params)
            body = {"ok": False, "error": fault.error}
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            self.attempts.append(Call(method, params, token, at, fault.status, body))
            return web.json_response(body, status=fault.status, headers=headers)

        if token is None:
            body = {"ok": False, "error": "not_authed"}
        elif not token.startswith(TOKEN_PREFIXES):
            body = {"ok": False, "error": "invalid_auth"}
        elif method == "apps.connections.open":
            body = self._open_connection(token)
        else:
            body = self._answer(method, params)
        call = Call(method, params, token, at, 200, body)
        self.attempts.append(call)
        self.calls.append(call)
        return web.json_response(body)

    def _next_fault(self, method: str, channel: str) -> _Fault | None:
        for key in ((method, channel), (method, None)):
            faults = self._faults.get(key)
            if faults:
                return faults.popleft()
        return None

    async def _handle_hook(self, request: web.Request) -> web.Response:
        at = time.time()
        params = await _read_params(request)
        params["_url"] = str(request.url)
        body = {"ok": True}
        call = Call("response_url", params, None, at, 200, body)
        self.attempts.append(call)
        self.calls.append(call)
        return web.json_response(body)

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": TEAM_URL,
                "team": TEAM_NAME,
                "user": BOT_NAME,
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            channel = p.get("channel")
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            ts = new_ts()
            message: dict[str, Any] = {
                "type": "message",
                "text": p.get("text", ""),
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "ts": ts,
                "team": TEAM_ID,
            }
            if "blocks" in p:
                message["blocks"] = p["blocks"]
            if p.get("thread_ts"):
                message["thread_ts"] = p["thread_ts"]
            metadata = p.get("metadata")
            if metadata is not None:
                if not (isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
                        and isinstance(metadata.get("event_payload"), dict)):
                    return {"ok": False, "error": "invalid_metadata_format"}
                message["metadata"] = {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}
            self.messages[(str(channel), ts)] = dict(message)
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.update":
            channel, target = p.get("channel"), p.get("ts")
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            if not target:
                return {"ok": False, "error": "message_not_found"}
            stored = self.messages.get((str(channel), str(target)))
            if stored is not None:
                stored["text"] = p.get("text", stored.get("text", ""))
                if "blocks" in p:
                    stored["blocks"] = p["blocks"]
                stored["edited"] = {"user": BOT_USER_ID, "ts": new_ts()}
            return {"ok": True, "channel": channel, "ts": target, "text": p.get("text", "")}
        if method == "chat.postEphemeral":
            if not p.get("channel"):
                return {"ok": False, "error": "channel_not_found"}
            if not p.get("user"):
                return {"ok": False, "error": "user_not_found"}
            channel = str(p["channel"])
            if channel.startswith("D") and channel != dm_of(str(p["user"])):
                return {"ok": False, "error": "channel_not_found"}  # a DM between other people: the bot is not in it
            return {"ok": True, "message_ts": new_ts()}
        if method == "conversations.open":
            if p.get("channel"):
                return {"ok": True, "channel": {"id": p["channel"]}}
            users = [u for u in str(p.get("users") or "").split(",") if u]
            if not users:
                return {"ok": False, "error": "users_list_not_supplied"}
            user = users[0]
            return {"ok": True, "channel": {"id": dm_of(user), "is_im": True, "user": user}}
        if method in ("conversations.history", "conversations.replies"):
            return self._history(method, p)
        if method == "users.info":
            user_id = p.get("user")
            if not user_id:
                return {"ok": False, "error": "user_not_found"}
            uid = str(user_id)
            return {"ok": True, "user": self._users.get(uid) or self._default_user(uid)}
        return {"ok": False, "error": "unknown_method"}

    def _history(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        """The channel's messages (history: top-level ones, newest first) or a thread (replies: its
        parent first, then the replies oldest first), within ``oldest``..``latest`` (bounds excluded
        unless ``inclusive``), one page of ``limit`` at a time."""
        channel = str(p.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        try:
            oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or time.time() + 1)
            limit, start = int(p.get("limit") or 100), int(p.get("cursor") or 0)
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        inclusive = _truthy(p.get("inclusive"))

        def within(ts: str) -> bool:
            return oldest <= float(ts) <= latest if inclusive else oldest < float(ts) < latest

        mine = self.messages_in(channel)
        if method == "conversations.history":
            found = [m for m in reversed(mine) if m.get("thread_ts", m["ts"]) == m["ts"] and within(m["ts"])]
        else:
            thread = str(p.get("ts") or "")
            parent = [m for m in mine if m["ts"] == thread]
            replies = [m for m in mine if m.get("thread_ts") == thread and m["ts"] != thread and within(m["ts"])]
            if not parent and not replies:
                return {"ok": False, "error": "thread_not_found"}
            found = parent + replies
        page = found[start : start + max(1, min(limit, 999))]
        with_metadata = _truthy(p.get("include_all_metadata"))
        messages = [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = start + len(page) < len(found)
        return {"ok": True, "messages": messages, "has_more": more, "pin_count": 0,
                "response_metadata": {"next_cursor": str(start + len(page)) if more else ""}}

    @staticmethod
    def _default_user(user_id: str) -> dict[str, Any]:
        real_name = f"User {user_id}"
        return {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": user_id.lower(),
            "real_name": real_name,
            "is_bot": False,
            "deleted": False,
            "profile": {"display_name": user_id.lower(), "real_name": real_name},
        }


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Merge query string and body (JSON, form or multipart); decode JSON-string fields."""
    params: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            raw = await request.json()
            if isinstance(raw, dict):
                params.update(raw)
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    params[key] = {"filename": value.filename, "content_type": value.content_type}
                else:
                    params[key] = value
    for key in JSON_STRING_FIELDS & params.keys():
        value = params[key]
        if isinstance(value, str):
            try:
                params[key] = json.loads(value)
            except ValueError:
                pass
    return params


def _truthy(value: Any) -> bool:
    """A boolean argument as Slack reads it from JSON (true) or a form ("true", "1")."""
    return value is True or str(value).lower() in ("true", "1")


def _bearer(header: str | None) -> str | None:
    if not header or not header.startswith("Bearer "):
        return None
    return header[len("Bearer ") :].strip() or None


# -- inbound: Slack -> app under test ------------------------------------------------------------


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack request-signing headers for ``body`` (timestamp defaults to now)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


@dataclass(frozen=True)
class Response:
    """What the app under test answered to a delivery."""

    status: int
    text: str
    headers: Mapping[str, str]
    body: bytes
    event_id: str | None = None

    def json(self) -> Any:
        return json.loads(self.text)


_last_event_ts = 0.0


def new_ts() -> str:
    """A fresh Slack message timestamp: now, strictly increasing within this process."""
    global _last_event_ts
    now = max(time.time(), _last_event_ts + 0.000001)
    _last_event_ts = now
    return f"{now:.6f}"


class SlackSender:
    """Posts signed Slack deliveries (events, block actions, slash commands) to the app under test.

    ``client`` is an aiohttp ``ClientSession`` (then give ``base_url``) or a pytest-aiohttp
    ``TestClient`` (relative paths work). With ``client=None`` the sender opens its own session;
    close it with ``await sender.close()`` or ``async with``. With ``slack`` set, ``response_url``s
    point at that FakeSlack, so posts to them are recorded there.
    """

    def __init__(
        self,
        client: ClientSession | TestClient[Any, Any] | None,
        signing_secret: str,
        *,
        base_url: str = "",
        path: str = "/slack/events",
        slack: FakeSlack | None = None,
        team_id: str = TEAM_ID,
        api_app_id: str = APP_ID,
        bot_user_id: str = BOT_USER_ID,
    ) -> None:
        self._client = client
        self._own_session: ClientSession | None = None
        self.signing_secret = signing_secret
        self.base_url = base_url.rstrip("/")
        self.path = path
        self.slack = slack
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.bot_user_id = bot_user_id
        self.last_event_id: str | None = None

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def with_secret(self, signing_secret: str) -> SlackSender:
        """A sender sharing this one's connection but signing with another secret."""
        other = SlackSender(
            self._client,
            signing_secret,
            base_url=self.base_url,
            path=self.path,
            slack=self.slack,
            team_id=self.team_id,
            api_app_id=self.api_app_id,
            bot_user_id=self.bot_user_id,
        )
        other._own_session = None
        if self._client is None:
            other._client = self._session()
        return other

    async def close(self) -> None:
        session, self._own_session = self._own_session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> SlackSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transport -----------------------------------------------------------------------------

    def _session(self) -> ClientSession | TestClient[Any, Any]:
        if self._client is not None:
            return self._client
        if self._own_session is None:
            self._own_session = ClientSession()
        return self._own_session

    async def send_raw(
        self,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        signed: bool = False,
        secret: str | None = None,
        timestamp: int | None = None,
        path: str | None = None,
    ) -> Response:
        """POST ``body`` with exactly ``headers`` (plus signing headers if ``signed``)."""
        all_headers = dict(headers or {})
        if signed:
            all_headers.update(sign(body, secret or self.signing_secret, timestamp))
        url = self.base_url + (path if path is not None else self.path)
        async with self._session().post(url, data=body, headers=all_headers) as resp:
            raw = await resp.read()
            return Response(
                status=resp.status,
                text=raw.decode("utf-8", errors="replace"),
                headers=dict(resp.headers),
                body=raw,
            )

    async def _send(
        self,
        body: bytes,
        content_type: str,
        *,
        extra: Mapping[str, str] | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> Response:
        headers = {"Content-Type": content_type, **(extra or {})}
        return await self.send_raw(body, headers, signed=True, secret=secret, timestamp=timestamp)

    def _response_url(self, kind: str) -> str:
        if self.slack is not None:
            return self.slack.response_url(kind)
        return f"https://hooks.slack.com/{kind}/{self.team_id}/{uuid.uuid4().int % 10**13}/{uuid.uuid4().hex[:24]}"

    @staticmethod
    def _trigger_id() -> str:
        return f"{uuid.uuid4().int % 10**13}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"

    # -- Events API ----------------------------------------------------------------------------

    @staticmethod
    def new_event_id() -> str:
        return "Ev" + uuid.uuid4().hex[:12].upper()

    def envelope(self, event: Mapping[str, Any], *, event_id: str, team_id: str | None = None) -> dict[str, Any]:
        team = team_id or self.team_id
        return {
            "token": "verification-token",
            "team_id": team,
            "api_app_id": self.api_app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }

    async def send_event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        team_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> Response:
        """Deliver ``event`` in an ``event_callback`` envelope; the response carries the ``event_id`` used.

        Redeliver with the same ``event_id`` and ``retry_num=1`` to simulate Slack's retries.
        """
        eid = event_id or self.new_event_id()
        self.last_event_id = eid
        if self.slack is not None:
            self.slack.hold(event)
        body = json.dumps(self.envelope(event, event_id=eid, team_id=team_id)).encode()
        extra: dict[str, str] = {}
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        resp = await self._send(body, "application/json", extra=extra, secret=secret, timestamp=timestamp)
        return Response(resp.status, resp.text, resp.headers, resp.body, eid)

    async def send_url_verification(self, challenge: str = "challenge-token") -> Response:
        body = json.dumps({"token": "verification-token", "challenge": challenge, "type": "url_verification"})
        return await self._send(body.encode(), "application/json")

    def dm_event(
        self, user: str, text: str, channel: str | None = None, ts: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A ``message`` event in the DM between ``user`` and the bot (``dm_of(user)`` unless given)."""
        ch = channel or dm_of(user)
        t = ts or new_ts()
        event: dict[str, Any] = {
            "type": "message",
            "channel": ch,
            "user": user,
            "text": text,
            "ts": t,
            "event_ts": t,
            "team": self.team_id,
            "channel_type": "im",
        }
        event.update(extra)
        return event

    def thread_reply_event(
        self, user: str, channel: str, thread_ts: str, text: str, ts: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        t = ts or new_ts()
        event: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": t,
            "event_ts": t,
            "thread_ts": thread_ts,
            "parent_user_id": self.bot_user_id,
            "team": self.team_id,
            "channel_type": _channel_type(channel),
        }
        event.update(extra)
        return event

    def mention_event(
        self, user: str, channel: str, text: str, ts: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """An ``app_mention``; ``<@BOT>`` is prefixed to ``text`` unless already present."""
        tag = f"<@{self.bot_user_id}>"
        t = ts or new_ts()
        event: dict[str, Any] = {
            "type": "app_mention",
            "channel": channel,
            "user": user,
            "text": text if tag in text else f"{tag} {text}",
            "ts": t,
            "event_ts": t,
            "team": self.team_id,
        }
        event.update(extra)
        return event

    async def dm(
        self, user: str, text: str, channel: str | None = None, ts: str | None = None, **extra: Any
    ) -> Response:
        return await self.send_event(self.dm_event(user, text, channel, ts, **extra))

    async def thread_reply(
        self, user: str, channel: str, thread_ts: str, text: str, ts: str | None = None, **extra: Any
    ) -> Response:
        return await self.send_event(self.thread_reply_event(user, channel, thread_ts, text, ts, **extra))

    async def mention(
        self, user: str, channel: str, text: str, ts: str | None = None, **extra: Any
    ) -> Response:
        return await self.send_event(self.mention_event(user, channel, text, ts, **extra))

    # -- interactivity and commands ------------------------------------------------------------

    def action_payload(
        self,
        user: str,
        action_id: str,
        value: str,
        *,
        channel: str,
        message_ts: str | None = None,
        container: Mapping[str, Any] | None = None,
        block_id: str | None = None,
        message: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        mts = message_ts or new_ts()
        now = f"{time.time():.6f}"
        return {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": self.team_id},
            "api_app_id": self.api_app_id,
            "token": "verification-token",
            "container": dict(container)
            if container is not None
            else {"type": "message", "message_ts": mts, "channel_id": channel, "is_ephemeral": False},
            "trigger_id": self._trigger_id(),
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": "directmessage" if channel.startswith("D") else channel.lower()},
            "message": dict(message)
            if message is not None
            else {"type": "message", "user": self.bot_user_id, "bot_id": BOT_ID, "text": "", "ts": mts},
            "state": {"values": {}},
            "response_url": self._response_url("actions"),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id or uuid.uuid4().hex[:5],
                    "text": {"type": "plain_text", "text": value, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": now,
                }
            ],
        }

    async def send_action(
        self,
        user: str,
        action_id: str,
        value: str,
        *,
        channel: str,
        message_ts: str | None = None,
        container: Mapping[str, Any] | None = None,
        block_id: str | None = None,
        message: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> Response:
        """A button click (``block_actions``) sent form-encoded as ``payload=<json>``."""
        payload = self.action_payload(
            user,
            action_id,
            value,
            channel=channel,
            message_ts=message_ts,
            container=container,
            block_id=block_id,
            message=message,
        )
        return await self.send_payload(payload, timestamp=timestamp, secret=secret)

    async def send_payload(
        self, payload: Mapping[str, Any], *, timestamp: int | None = None, secret: str | None = None
    ) -> Response:
        """Any interactivity payload (view_submission, shortcut, ...) form-encoded as ``payload=``."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self._send(body, "application/x-www-form-urlencoded", secret=secret, timestamp=timestamp)

    def command_form(self, command: str, text: str, *, user: str, channel: str) -> dict[str, str]:
        return {
            "token": "verification-token",
            "team_id": self.team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else channel.lower(),
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url("commands"),
            "trigger_id": self._trigger_id(),
        }

    async def send_command(
        self,
        command: str,
        text: str,
        *,
        user: str,
        channel: str,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> Response:
        """A slash command, form-encoded like Slack sends it."""
        body = urlencode(self.command_form(command, text, user=user, channel=channel)).encode()
        return await self._send(body, "application/x-www-form-urlencoded", secret=secret, timestamp=timestamp)


def dm_of(user: str) -> str:
    """The bot's DM channel with ``user`` in this fake: ``D`` + the id without its ``U``."""
    return "D" + (user[1:] if user.startswith("U") else user)


def _channel_type(channel: str) -> str:
    return {"D": "im", "G": "group", "C": "channel"}.get(channel[:1], "channel")
