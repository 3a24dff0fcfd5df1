"""Web chat for customers: a small HTTP API (documented in openapi.py) plus a live websocket.

The page in static/ uses exactly this API, so any website or script can be a client. A
conversation is opened with POST /api/conversations, which returns its id and a bearer token;
the token opens that conversation only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from adapters import edge
from adapters.base import json_error
from adapters.ratelimit import RateLimits
from bot.domain import Conversation
from bot.events import CustomerAction, CustomerMessage, CustomerTyping, Event
from bot.ports import Attempt, Line, Port
from bot.runtime import Runtime
from bot.store.base import TranscriptEntry
from bot.text import TextTooLong, clean

log = logging.getLogger(__name__)

PLATFORM = "web"
MAX_ACTION_FIELD = 200
SECRET_CACHE = 50_000
TYPING_EVERY = 4.0  # seconds between typing signals worth handling


def web_conversation_id(public_id: str) -> str:
    """A web chat's conversation id: the platform and the id the page was given (its URL's)."""
    return f"{PLATFORM}:{public_id}"
IDEMPOTENCY_KEY = "Idempotency-Key"  # names a POSTed message: sent again (a retry after a crash or a lost answer), it is handled once
MAX_KEY = 200


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def iso_time(at: float) -> str:
    """Epoch seconds as the API's timestamps: ISO 8601 in UTC, e.g. 2026-11-23T14:05:00Z."""
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def message_json(seq: int, sender: str, name: str, text: str, buttons: list[Any], at: float) -> dict[str, Any]:
    """One transcript line as the API shows it."""
    return {
        "seq": seq,
        "from": sender,
        "name": name,
        "text": text,
        "buttons": [{"id": b["id"], "label": b["label"], "value": b["value"]} for b in buttons],
        "at": iso_time(at),
    }


def entry_json(entry: TranscriptEntry) -> dict[str, Any]:
    return message_json(entry.seq, entry.sender, entry.sender_name, entry.text, entry.buttons, entry.at)


class WebChat(Port):
    name = PLATFORM
    serves_staff = False
    shows_customer_messages = True
    durable = False  # the transcript is the record; sockets get live pushes and resume by seq

    def __init__(self, runtime: Runtime, limits: RateLimits, *, max_chars: int, too_long_spiel: str) -> None:
        self.runtime = runtime
        self.limits = limits
        self.max_chars = max_chars
        self.too_long_spiel = too_long_spiel
        self._sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self._typing_at: dict[str, float] = {}
        self._secrets: dict[str, str] = {}

    def setup(self, app: web.Application) -> None:
        app.router.add_post("/api/conversations", self.create_conversation)
        app.router.add_post("/api/conversations/{id}/messages", self.post_message)
        app.router.add_get("/api/conversations/{id}/messages", self.get_messages)
        app.router.add_get("/api/conversations/{id}/ws", self.websocket)
        app.on_shutdown.append(self._close_sockets)

    # ----- HTTP API ---------------------------------------------------------------------------

    async def create_conversation(self, request: web.Request) -> web.Response:
        await self.limits.customer(self.limits.address(request))
        name = ""
        if request.can_read_body:
            body = await edge.read_json(request)
            if not isinstance(body, dict) or not isinstance(body.get("name", ""), str):
                return json_error(400, "The body must be a JSON object; 'name' must be a string.")
            try:
                name = clean(body.get("name", ""), limit=80).strip()
            except TextTooLong:
                return json_error(400, "'name' is too long (80 characters at most).")
        public_id = secrets.token_hex(10)
        token = secrets.token_urlsafe(24)
        conversation = Conversation(web_conversation_id(public_id), PLATFORM, customer_name=name, created_at=self.runtime.clock.now())
        await self.runtime.open_conversation(conversation, secret_hash=hash_token(token))
        self._remember(conversation.id, hash_token(token))
        log.info("conversation opened", extra={"conversation": conversation.id})
        return web.json_response({"id": public_id, "token": token}, status=201)

    async def post_message(self, request: web.Request) -> web.Response:
        conversation_id, error = await self._authorise(request, request.headers.get("Authorization", ""))
        if error is not None:
            return error
        key = request.headers.get(IDEMPOTENCY_KEY)
        if key is not None and not (0 < len(key) <= MAX_KEY and key.isascii() and key.isprintable() and " " not in key):
            raise edge.Refused(400, f"The {IDEMPOTENCY_KEY} header must be 1 to {MAX_KEY} visible ASCII characters.")
        return await self._accept(conversation_id, await edge.read_json(request), key)

    async def get_messages(self, request: web.Request) -> web.Response:
        conversation_id, error = await self._authorise(request, request.headers.get("Authorization", ""))
        if error is not None:
            return error
        after = edge.whole_number(request.query.get("after", "0"), name="after", minimum=0)
        limit = min(500, max(1, edge.whole_number(request.query.get("limit", "500"), name="limit")))
        entries = await self.runtime.store.transcript(conversation_id, after=after, limit=limit)
        return web.json_response({"messages": [entry_json(e) for e in entries]})

    async def _authorise(self, request: web.Request, header: str) -> tuple[str, web.Response | None]:
        """The token for the conversation in the path. The address's rate limit comes first (it
        raises Refused), so even wrong tokens count against it before any store lookup."""
        await self.limits.customer(self.limits.address(request))
        public_id = request.match_info["id"]
        conversation_id = web_conversation_id(public_id)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return conversation_id, json_error(401, "Send the conversation's token: 'Authorization: Bearer <token>'.")
        edge.ascii_text(token, name="The token", status=401)
        expected = self._secrets.get(conversation_id)
        if expected is None and len(public_id) <= 64:
            expected = await self.runtime.store.conversation_secret(conversation_id)
            if expected is not None:
                self._remember(conversation_id, expected)
        if expected is None:
            return conversation_id, json_error(404, "No such conversation.")
        if not hmac.compare_digest(expected, hash_token(token.strip())):
            return conversation_id, json_error(401, "That token does not open this conversation.")
        return conversation_id, None

    def _remember(self, conversation_id: str, secret_hash: str) -> None:
        """Token hashes of recent conversations, so a message costs no store lookup to authorise."""
        if len(self._secrets) >= SECRET_CACHE:
            self._secrets.pop(next(iter(self._secrets)))
        self._secrets[conversation_id] = secret_hash

    async def _accept(self, conversation_id: str, body: Any, key: str | None) -> web.Response:
        """Handles the message; with an idempotency key already handled in this conversation (kept
        a day), nothing is done again and the answer is the same."""
        event = self._event(conversation_id, body)
        if event is None:
            return web.json_response({"status": "ignored", "reason": "empty message"}, status=202)
        await self.limits.conversation(conversation_id)
        await self.runtime.handle(event, inbound=(PLATFORM, f"{conversation_id}:{key}") if key else None)
        return web.json_response({"status": "accepted"}, status=202)

    def _event(self, conversation_id: str, body: Any) -> Event | None:
        """The neutral event for a message or button body; None for an empty message. Raises
        Refused for a malformed one."""
        if not isinstance(body, dict):
            raise edge.Refused(400, "The body must be a JSON object.")
        if "action" in body:
            action = body["action"]
            if not isinstance(action, dict) or not isinstance(action.get("id"), str) or not isinstance(action.get("value", ""), str):
                raise edge.Refused(400, "'action' must be {\"id\": string, \"value\": string}.")
            action_id, value = action["id"], action.get("value", "")
            if len(action_id) > MAX_ACTION_FIELD or len(value) > MAX_ACTION_FIELD:
                raise edge.Refused(400, "'action' fields are too long.")
            return CustomerAction(conversation_id, action_id, value)
        text = body.get("text")
        if not isinstance(text, str):
            raise edge.Refused(400, "Send {\"text\": \"...\"} or {\"action\": {\"id\": ..., \"value\": ...}}.")
        try:
            cleaned = clean(text, limit=self.max_chars)
        except TextTooLong as exc:
            raise edge.Refused(413, self.too_long_spiel.format(length=exc.length, limit=exc.limit)) from None
        return CustomerMessage(conversation_id, cleaned) if cleaned.strip() else None

    # ----- websocket --------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.WebSocketResponse | web.Response:
        token = request.query.get("token", "")
        conversation_id, error = await self._authorise(request, f"Bearer {token}")
        if error is not None:
            return error
        address = self.limits.address(request)
        socket = web.WebSocketResponse(heartbeat=30, max_msg_size=edge.MAX_BODY)
        await socket.prepare(request)
        self._sockets[conversation_id].add(socket)
        try:
            async for frame in socket:
                if frame.type is not WSMsgType.TEXT:
                    if frame.type is WSMsgType.BINARY:
                        await socket.send_json({"type": "error", "error": "Send JSON text frames."})
                    continue
                try:
                    await self.limits.customer(address)
                    await self._frame(socket, conversation_id, edge.json_value(frame.data, what="That frame"))
                except edge.Refused as exc:
                    await socket.send_json(exc.frame())
        finally:
            self._sockets[conversation_id].discard(socket)
            if not self._sockets[conversation_id]:
                del self._sockets[conversation_id]
                self._typing_at.pop(conversation_id, None)
        return socket

    async def _frame(self, socket: web.WebSocketResponse, conversation_id: str, frame: Any) -> None:
        """One decoded frame; raises Refused for a malformed one."""
        if not isinstance(frame, dict):
            raise edge.Refused(400, "A frame must be a JSON object with a 'type'.")
        kind = frame.get("type")
        if kind == "resume":
            after = edge.json_whole_number(frame.get("after", 0), name="after", minimum=0)
            for entry in await self.runtime.store.transcript(conversation_id, after=after):
                await socket.send_json({"type": "message", "message": entry_json(entry)})
            return
        if kind == "typing":
            await self._typing(conversation_id)
            return
        if kind not in ("message", "action"):
            raise edge.Refused(400, f"Unknown frame type {str(kind)[:40]!r}.")
        event = self._event(conversation_id, frame)
        if event is None:
            return
        await self.limits.conversation(conversation_id)
        try:
            await self.runtime.handle(event)
        except Exception:
            log.exception("web chat event failed", extra={"conversation": conversation_id})
            await socket.send_json({"type": "error", "error": "Something went wrong on our side; please try again."})

    async def _typing(self, conversation_id: str) -> None:
        """Typing matters to the idle-time SOP; one signal per few seconds per conversation is plenty."""
        now = self.runtime.clock.now()
        if now - self._typing_at.get(conversation_id, float("-inf")) < TYPING_EVERY:
            return
        self._typing_at[conversation_id] = now
        await self.runtime.handle(CustomerTyping(conversation_id))

    async def show(self, line: Line, attempt: Attempt) -> None:
        """Web lines are already in the transcript; showing them pushes them to open sockets."""
        sockets = self._sockets.get(line.conversation_id)
        if not sockets or line.seq is None or line.at is None:
            return
        buttons = [{"id": b.id, "label": b.label, "value": b.value} for b in line.buttons]
        message = message_json(line.seq, line.sender, line.sender_name, line.text, buttons, line.at)
        for socket in list(sockets):
            if not socket.closed:
                await socket.send_json({"type": "message", "message": message})

    async def _close_sockets(self, app: web.Application) -> None:
        for sockets in list(self._sockets.values()):
            for socket in list(sockets):
                await socket.close(code=1001, message=b"server shutdown")
