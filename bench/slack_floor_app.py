"""The durable floor for `bench.slack_load`: the least a Slack app with supportbot's guarantees can do.

    python -m bench.slack_floor_app --port P --api-url http://127.0.0.1:Q/api/ --db FILE

Not supportbot and not bolt: a lower bound on the cost of the guarantees issue 3 asks for, built
from the same parts supportbot uses, with everything else taken out. Per event it:

1. verifies the signature with slack_sdk's `SignatureVerifier` and parses the body with orjson;
2. records the delivery (`INSERT OR IGNORE` by event id, so a retry is dropped) and waits for
   that commit before acknowledging: nothing acknowledged is lost;
3. after the ack, in the next group: marks the delivery done and writes one outbox row, and
   commits before replying: a crash cannot double-post or lose the reply;
4. posts the reply with one `chat.postMessage` on a keep-alive aiohttp session (supportbot's
   `adapters/slack_api.py` call) and deletes the outbox row in a later group.

No conversation state, no engine, no transcript: 4 SQLite statements per event against
supportbot's 18. Commits are grouped as supportbot's runtime groups them (a writer task takes
everything waiting, one transaction), on the event loop's thread as supportbot's store runs them,
but without a savepoint per unit. Replies in flight are bounded (64), taken before the ack, so a slow Web API
slows acknowledgements instead of piling up tasks.

GET /healthz answers 200 once the app is up.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from bench.common import slack_app_parser

REPLY = "Thanks, we got your message."


@dataclass
class Writes:
    """Statements waiting for the next group commit, and the futures to settle once it is durable."""

    statements: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


class Floor:
    def __init__(self, db_path: str, secret: str, token: str, api_url: str, max_replies: int) -> None:
        self.db = sqlite3.connect(db_path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS inbox (event_id TEXT PRIMARY KEY, channel TEXT, text TEXT, done_at REAL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, channel TEXT, text TEXT)")
        self.verifier = SignatureVerifier(secret)
        self.url = api_url + "chat.postMessage"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"}
        self.replies = asyncio.Semaphore(max_replies)
        self.pending = Writes()
        self.wake = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.failures = 0
        start = self.db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]
        self.outbox_ids = itertools.count(start + 1)

    def later(self, sql: str, params: tuple[Any, ...]) -> None:
        """Queue one statement for the next group, nobody waiting for it."""
        self.pending.statements.append((sql, params))
        self.wake.set()

    def write(self, sql: str, params: tuple[Any, ...]) -> asyncio.Future[None]:
        """Queue one statement for the next group; the future settles when it is committed."""
        done = asyncio.get_running_loop().create_future()
        self.later(sql, params)
        self.pending.waiters.append(done)
        return done

    async def writer(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            group, self.pending = self.pending, Writes()
            failure: BaseException | None = None
            try:
                self.db.execute("BEGIN IMMEDIATE")
                for sql, params in group.statements:
                    self.db.execute(sql, params)
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:  # the whole group is undone; its waiters hear why
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                failure = exc
            for waiter in group.waiters:
                if not waiter.done():
                    waiter.set_result(None) if failure is None else waiter.set_exception(failure)
            await asyncio.sleep(0)  # let the handlers that were waiting run before the next group

    async def events(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.verifier.is_valid(body, request.headers.get("X-Slack-Request-Timestamp", ""),
                                      request.headers.get("X-Slack-Signature", "")):
            return web.Response(status=401, text="invalid signature")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return web.Response(status=400, text="malformed JSON")
        if payload.get("type") == "url_verification":
            return web.json_response({"challenge": payload.get("challenge")})
        event = payload.get("event") or {}
        if payload.get("type") != "event_callback" or event.get("type") != "message" or event.get("bot_id"):
            return web.Response(status=200)
        await self.replies.acquire()  # released once the reply is posted
        event_id = str(payload.get("event_id") or "")
        channel = str(event.get("channel") or "")
        try:
            await self.write("INSERT OR IGNORE INTO inbox (event_id, channel, text) VALUES (?, ?, ?)",
                             (event_id, channel, str(event.get("text") or "")))
        except BaseException:
            self.replies.release()
            raise
        task = asyncio.create_task(self.process(event_id, channel))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return web.Response(status=200)

    async def process(self, event_id: str, channel: str) -> None:
        try:
            rowid = next(self.outbox_ids)
            self.later("INSERT INTO outbox (id, channel, text) VALUES (?, ?, ?)", (rowid, channel, REPLY))
            await self.write("UPDATE inbox SET done_at = ? WHERE event_id = ?", (time.time(), event_id))
            assert self.session is not None
            async with self.session.post(self.url, data=orjson.dumps({"channel": channel, "text": REPLY}),
                                         headers=self.headers) as response:
                answer = orjson.loads(await response.read())
            if response.status != 200 or not answer.get("ok"):
                self.failures += 1
                return
            self.later("DELETE FROM outbox WHERE id = ?", (rowid,))
        except (aiohttp.ClientError, OSError, ValueError):
            self.failures += 1
        finally:
            self.replies.release()

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "reply_tasks": len(self.tasks), "reply_failures": self.failures})


def build_app(floor: Floor) -> web.Application:
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        floor.session = aiohttp.ClientSession()
        writer = asyncio.create_task(floor.writer())
        yield
        writer.cancel()
        await floor.session.close()

    app = web.Application()
    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/slack/events", floor.events)
    app.router.add_get("/healthz", floor.healthz)
    return app


def main(argv: list[str] | None = None) -> None:
    p = slack_app_parser("python -m bench.slack_floor_app")
    p.add_argument("--db", required=True, help="the SQLite file (created)")
    p.add_argument("--max-replies", type=int, default=64, help="replies in flight at most")
    args = p.parse_args(argv)
    floor = Floor(args.db, os.environ["SLACK_SIGNING_SECRET"], os.environ["SLACK_BOT_TOKEN"], args.api_url, args.max_replies)
    web.run_app(build_app(floor), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
