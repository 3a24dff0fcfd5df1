"""The web agent console: signed-in staff see the live queue and work their chats.

Commands arrive over the console's websocket as neutral `StaffCommand`s; the console pushes a fresh
state snapshot whenever a case changes and a notice for each staff notification. Tier I sees
personal data masked (SOP 002). Who is asking comes from the sign-in (adapters/auth/): every route
here is behind its middleware, and a websocket re-checks its credential before each command, so a
session signed out or a token revoked stops working at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any

from aiohttp import WSMsgType, web

from adapters import edge
from adapters.assist import AgentAssist, QueryError, whole_transcript
from adapters.auth.identity import Caller, StaffAuth, caller_of
from adapters.base import json_error
from adapters.ratelimit import RateLimits
from adapters.webchat.case_search import CaseSearch
from adapters.webchat.case_views import (
    case_json,
    customer_json,
    first_reply_at,
    other_cases,
)
from adapters.webchat.customer import entry_json, iso_time
from bot.config import RosterEntry, Settings
from bot.domain import Case, CaseState, Role
from bot.events import CaseChanged, NotifyStaff, StaffCommand, StaffPresence
from bot.pii import for_role
from bot.ports import Attempt, Port
from bot.runtime import Runtime
from bot.text import TextTooLong, clean
from bot.world import queue_order

log = logging.getLogger(__name__)

MAX_TAGS = 10
FIRST_REPLY_CACHE = 10_000  # accepted chats whose first reply time is remembered
SIGNED_OUT = 4401  # websocket close code: the credential ended; the page goes to /login


class AgentConsole(Port):
    name = "console"
    serves_staff = True
    shows_customer_messages = False
    durable = False  # live notices and views; a console (re)connecting fetches the current state

    def __init__(self, runtime: Runtime, settings: Settings, assist: AgentAssist, auth: StaffAuth, limits: RateLimits) -> None:
        self.runtime = runtime
        self.limits = limits
        self.settings = settings
        self.assist = assist
        self.auth = auth
        self._sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self._callers: dict[web.WebSocketResponse, Caller] = {}
        auth.on_session_end(self._session_ended)
        self._refresh: asyncio.Task[None] | None = None
        self._stale = False
        self._first_replies: dict[tuple[int, float], float] = {}  # (case id, accepted at): first reply at

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/api/agent/roster", self.roster)
        app.router.add_get("/api/agent/ws", self.websocket)
        app.router.add_get("/api/agent/cases/{case_id}", self.case_detail)
        app.router.add_get("/api/agent/articles", self.articles)
        CaseSearch(self.runtime.store, self.settings).setup(app)
        app.on_shutdown.append(self._close_sockets)

    async def roster(self, request: web.Request) -> web.Response:
        staff = [{"id": e.id, "name": e.name, "role": e.role.value} for e in self.settings.roster]
        consult = {"classifications": self.settings.classifications(), "extra_fields": list(self.settings.consult.extra_fields)}
        return web.json_response({"staff": staff, "consult": consult})

    async def case_detail(self, request: web.Request) -> web.Response:
        me = caller_of(request).entry
        case = await self.runtime.store.case(edge.whole_number(request.match_info["case_id"], name="case_id", minimum=1))
        if case is None:
            return json_error(404, "No such case.")
        consults = await self._consults_json(case, me)
        if me.role is Role.SME:  # an SME helps the agent; the customer's own words stay with the agent
            if not consults:
                return json_error(403, "SMEs see the consults they were asked for, not customer chats.")
            return web.json_response({"case": case_json(case, me.role, self.settings), "transcript": [], "notes": [], "tickets": [], "consults": consults})
        store = self.runtime.store
        transcript = await whole_transcript(store, case.conversation_id)
        notes = await self.runtime.store.notes(case.id)
        messages = []
        for entry in transcript:
            item = entry_json(entry)
            item["text"] = for_role(me.role, item["text"])
            item["case_id"] = entry.case_id
            messages.append(item)
        return web.json_response(
            {
                "case": case_json(case, me.role, self.settings, first_reply_at=first_reply_at(case, transcript)),
                "customer": customer_json(case, await store.conversation(case.conversation_id), me.role),
                "other_cases": await other_cases(store, case, transcript, me.role),
                "transcript": messages,
                "notes": [
                    {"author": self.settings.name_of(n.author_id), "text": n.text, "tags": list(n.tags), "at": n.at} for n in notes
                ],
                "tickets": await self.runtime.store.records("tickets", case.id),
                "consults": consults,
                "articles": [a.to_json() for a in (await self.assist.for_case(case, transcript))[1]],
            }
        )

    async def articles(self, request: web.Request) -> web.Response:
        """Agent assist's search box: articles for any words, agent-only ones included (staff only:
        the middleware has checked the caller)."""
        try:
            found = await self.assist.search(request.query.get("q", ""))
        except QueryError as exc:
            return json_error(400, str(exc))
        return web.json_response({"articles": [a.to_json() for a in found]})

    async def _consults_json(self, case: Case, me: RosterEntry) -> list[dict[str, Any]]:
        """A case's consults with their threads; an SME sees only those of their groups."""
        groups = {g.name for g in self.settings.sme_groups if me.id in g.members}
        visible = [c for c in case.consults if me.role is not Role.SME or c.group in groups]
        if not visible:
            return []
        lines = await self.runtime.store.records("consult_messages", case.id)
        return [
            {
                "number": c.number,
                "label": f"{case.number}/{c.number}",
                "classification": c.classification,
                "group": c.group,
                "state": c.state.value,
                "agent": self.settings.name_of(c.agent_id),
                "agent_id": c.agent_id,
                "sme": self.settings.name_of(c.sme_id),
                "sme_id": c.sme_id,
                "notes": c.notes,
                "fields": c.fields,
                "repeat_reason": c.repeat_reason,
                "created_at": c.created_at,
                "claimed_at": c.claimed_at,
                "ended_at": c.ended_at,
                "end_reason": c.end_reason,
                "last_agent_at": c.last_agent_at,
                "last_sme_at": c.last_sme_at,
                "messages": [
                    {"author": self.settings.name_of(m["author_id"]) or "supportbot", "author_id": m["author_id"], "text": m["text"], "at": m["at"]}
                    for m in lines
                    if m["consult"] == c.number
                ],
            }
            for c in visible
        ]

    async def _state(self, me: RosterEntry) -> dict[str, Any]:
        store = self.runtime.store
        waiting = sorted(await store.cases_in([CaseState.QUEUED]), key=queue_order)
        escalated = await store.cases_in([CaseState.ESCALATED]) if me.role in (Role.TIER2, Role.MANAGER) else []
        works_chats = me.role is not Role.SME
        messages = await store.cases_in([CaseState.TICKETED]) if works_chats else []
        follow_ups = await store.follow_ups() if works_chats else []
        callbacks = sorted((c for c in follow_ups if c.callback_requested and c.callback_done_at is None), key=lambda c: c.callback_due_at or 0.0)
        managers = [c for c in follow_ups if c.manager_requested_at is not None and c.is_open] if me.role is Role.MANAGER else []
        mine = [c for c in await store.cases_of_staff(me.id) if c.is_open]
        presence = {a.id: a for a in await store.agents()}
        active = await store.active_chats()
        team = [
            {
                "id": e.id,
                "name": e.name,
                "role": e.role.value,
                "status": presence[e.id].status.value if e.id in presence else "away",
                "online": presence[e.id].online if e.id in presence else False,
                "active": active.get(e.id, 0),
                "capacity": self.settings.capacity_of(e),
            }
            for e in self.settings.roster
        ]
        return {
            "type": "state",
            "now": self.runtime.clock.now(),
            "queue_alert_after": float(self.settings.timings.queue_alert_after),
            "me": next(t for t in team if t["id"] == me.id),
            "waiting": [case_json(c, me.role, self.settings) for c in waiting],
            "escalated": [case_json(c, me.role, self.settings) for c in escalated],
            "messages": [case_json(c, me.role, self.settings) for c in sorted(messages, key=lambda c: c.ticketed_at or 0.0)],
            "callbacks": [case_json(c, me.role, self.settings) for c in callbacks],
            "manager_requests": [case_json(c, me.role, self.settings) for c in sorted(managers, key=lambda c: c.manager_requested_at or 0.0)],
            "mine": [case_json(c, me.role, self.settings, first_reply_at=await self._first_reply(c)) for c in mine],
            "team": team,
            "consults": await self._open_consults(me),
        }

    async def _first_reply(self, case: Case) -> float | None:
        """The first-response time of an accepted chat: read from the transcript until there is
        one, then remembered (it never changes until the case is accepted again)."""
        if case.accepted_at is None:
            return None
        key = (case.id, case.accepted_at)
        if key not in self._first_replies:
            found = first_reply_at(case, await whole_transcript(self.runtime.store, case.conversation_id))
            if found is None:
                return None
            if len(self._first_replies) >= FIRST_REPLY_CACHE:
                self._first_replies.pop(next(iter(self._first_replies)))
            self._first_replies[key] = found
        return self._first_replies[key]

    async def websocket(self, request: web.Request) -> web.WebSocketResponse | web.Response:
        caller = caller_of(request)
        me = caller.entry
        socket = web.WebSocketResponse(heartbeat=30, max_msg_size=1 << 20)
        await socket.prepare(request)
        first = not self._sockets[me.id]
        self._sockets[me.id].add(socket)
        self._callers[socket] = caller
        try:
            if first:
                await self.runtime.handle(StaffPresence(me.id, True))
            await socket.send_json(await self._state(me))
            async for frame in socket:
                if not await self.auth.still_valid(caller):
                    await socket.send_json({"type": "error", "error": "Your sign-in has ended; please sign in again."})
                    await socket.close(code=SIGNED_OUT, message=b"signed out")
                    break
                if frame.type is WSMsgType.TEXT:
                    await self._frame(socket, caller, frame.data)
                elif frame.type is WSMsgType.BINARY:
                    await socket.send_json({"type": "error", "error": "Send JSON text frames."})
        finally:
            self._callers.pop(socket, None)
            self._sockets[me.id].discard(socket)
            if not self._sockets[me.id]:
                del self._sockets[me.id]
                # aiohttp cancels the handler once the peer is gone: shield the presence update
                await asyncio.shield(self._went_offline(me.id))
        return socket

    async def _session_ended(self, session_key: str) -> None:
        """A sign-out closes that session's consoles (other sessions of the same person stay)."""
        for socket, caller in list(self._callers.items()):
            if caller.via == "session" and caller.key == session_key and not socket.closed:
                await socket.close(code=SIGNED_OUT, message=b"signed out")

    async def _went_offline(self, staff_id: str) -> None:
        try:
            await self.runtime.handle(StaffPresence(staff_id, False))
        except Exception:
            log.exception("could not record a console disconnect", extra={"staff": staff_id})

    async def _frame(self, socket: web.WebSocketResponse, caller: Caller, data: str) -> None:
        me = caller.entry
        try:
            await self.limits.staff(caller.credential)
            command = self._command(me, edge.json_value(data, what="That frame"))
        except edge.Refused as exc:
            await socket.send_json(exc.frame())
            return
        except ValueError as exc:
            await socket.send_json({"type": "error", "error": str(exc)})
            return
        try:
            await self.runtime.handle(command)
        except Exception:
            log.exception("console command failed", extra={"staff": me.id})
            await socket.send_json({"type": "error", "error": "Something went wrong on our side; please try again."})

    async def _open_consults(self, me: RosterEntry) -> list[dict[str, Any]]:
        """For an SME: the open consults of their groups, waiting ones first."""
        if me.role is not Role.SME:
            return []
        groups = {g.name for g in self.settings.sme_groups if me.id in g.members}
        found = []
        for case in await self.runtime.store.cases_in([CaseState.WITH_AGENT]):
            consult = case.open_consult()
            if consult is not None and consult.group in groups and consult.sme_id in (None, me.id):
                found.append(
                    {
                        "case_id": case.id,
                        "label": f"{case.number}/{consult.number}",
                        "classification": consult.classification,
                        "state": consult.state.value,
                        "agent": self.settings.name_of(consult.agent_id),
                        "notes": consult.notes,
                        "created_at": consult.created_at,
                    }
                )
        return sorted(found, key=lambda c: (c["state"] != "waiting", c["created_at"]))

    def _command(self, me: RosterEntry, frame: Any) -> StaffCommand:
        if not isinstance(frame, dict) or frame.get("type") != "command":
            raise ValueError("Send {\"type\": \"command\", \"command\": ..., \"case_id\": ..., \"text\": ...}.")
        name, case_id, text, tags = frame.get("command"), frame.get("case_id"), frame.get("text", ""), frame.get("tags", [])
        if not isinstance(name, str) or not name or len(name) > 40:
            raise ValueError("'command' must be a short string, e.g. 'accept' or 'say'.")
        if case_id is not None and (not isinstance(case_id, int) or isinstance(case_id, bool)):
            raise ValueError("'case_id' must be a whole number.")
        if not isinstance(text, str):
            raise ValueError("'text' must be a string.")
        if not isinstance(tags, list) or len(tags) > MAX_TAGS or not all(isinstance(t, str) and 0 < len(t) <= 40 for t in tags):
            raise ValueError(f"'tags' must be a list of up to {MAX_TAGS} short strings.")
        try:
            cleaned = clean(text, limit=self.settings.server.max_message_chars)
        except TextTooLong as exc:
            raise ValueError(self.settings.spiels.too_long.format(length=exc.length, limit=exc.limit)) from None
        fields = frame.get("fields", {})
        if not isinstance(fields, dict) or len(fields) > 20 or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 40 and len(v) <= self.settings.server.max_message_chars
            for k, v in fields.items()
        ):
            raise ValueError("'fields' must be an object of up to 20 short string values.")
        return StaffCommand(me.id, name.lower(), case_id, cleaned, tuple(tags), tuple(fields.items()), self.name)

    def wants(self, action: NotifyStaff | CaseChanged) -> bool:
        return True  # the console shows every notice and every case change

    async def notify(self, notice: NotifyStaff, attempt: Attempt) -> None:
        case = await self.runtime.store.case(notice.case_id) if notice.case_id is not None else None
        at = iso_time(self.runtime.clock.now())
        for staff_id in notice.recipients:
            entry = self.settings.staff(staff_id)
            frame = {
                "type": "notice", "kind": notice.kind, "text": for_role(entry.role, notice.text) if entry else notice.text,
                "case_id": notice.case_id, "case_number": case.number if case else None, "at": at,
            }
            for socket in list(self._sockets.get(staff_id, ())):
                if not socket.closed:
                    await socket.send_json(frame)
        self._refresh_soon()

    async def case_changed(self, change: CaseChanged, attempt: Attempt) -> None:
        self._refresh_soon()

    def _refresh_soon(self) -> None:
        self._stale = True
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._push_states())

    async def _push_states(self) -> None:
        """State snapshots for every connected staff member, coalescing a burst of changes; a
        change that lands while snapshots are being sent triggers another round."""
        while self._stale:
            self._stale = False
            await asyncio.sleep(0.02)
            for staff_id, sockets in list(self._sockets.items()):
                me = self.settings.staff(staff_id)
                if me is None or not sockets:
                    continue
                state = await self._state(me)
                for socket in list(sockets):
                    if not socket.closed:
                        with contextlib.suppress(ConnectionError):
                            await socket.send_json(state)

    async def _close_sockets(self, app: web.Application) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
        for sockets in list(self._sockets.values()):
            for socket in list(sockets):
                await socket.close(code=1001, message=b"server shutdown")
