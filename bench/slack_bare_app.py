"""The bare slack-bolt baseline for `bench.slack_load`: an `AsyncApp` on aiohttp, nothing else.

    python -m bench.slack_bare_app --port P --api-url http://127.0.0.1:Q/api/ --mode ack|reply

Reads SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET from the environment. POST /slack/events goes
through `slack_bolt.adapter.aiohttp` (`to_bolt_request` -> `AsyncApp.async_dispatch` ->
`to_aiohttp_response`), so every request gets bolt's signature check, authorization (one cached
auth.test) and listener dispatch, as a minimal real bolt app would.

* `--mode ack`: the message listener only acknowledges.
* `--mode reply`: the listener acknowledges, then replies with one `chat_postMessage` to the
  event's channel in a fire-and-forget task. The number of replies in flight is bounded by a
  semaphore that is taken *before* the acknowledgement (in a bolt middleware), so when replies
  fall behind, acks slow down instead of after-ack tasks piling up without bound.

GET /healthz answers 200 once the app is up (used by the bench to wait for start-up).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import ClientSession, web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bench.common import slack_app_parser


def build_app(*, token: str, secret: str, api_url: str, mode: str, max_replies: int, shared_session: bool = False) -> web.Application:
    client = AsyncWebClient(token=token, base_url=api_url)
    bolt = AsyncApp(token=token, signing_secret=secret, client=client)
    replies = asyncio.Semaphore(max_replies)
    tasks: set[asyncio.Task[None]] = set()
    failures = 0

    if mode == "reply":

        @bolt.middleware
        async def bound_replies(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> None:
            event = body.get("event") or {}
            if body.get("type") == "event_callback" and event.get("type") == "message":
                await replies.acquire()  # released by the reply task; held before the ack
            await next()

        async def reply(channel: str) -> None:
            nonlocal failures
            try:
                await client.chat_postMessage(channel=channel, text="Thanks, we got your message.")
            except Exception:  # counted, never raised out of a fire-and-forget task
                failures += 1
            finally:
                replies.release()

        @bolt.event("message")
        async def on_message(event: dict[str, Any], ack: AsyncAck) -> None:
            await ack()
            task = asyncio.create_task(reply(str(event.get("channel") or "")))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    else:

        @bolt.event("message")
        async def on_message_ack_only(ack: AsyncAck) -> None:
            await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "mode": mode, "reply_tasks": len(tasks), "reply_failures": failures})

    app = web.Application()

    if shared_session:  # one keep-alive aiohttp session for all Web API calls (slack_sdk's default: one per call)

        async def session_ctx(app: web.Application) -> AsyncIterator[None]:
            client.session = ClientSession()
            yield
            await client.session.close()

        app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: list[str] | None = None) -> None:
    p = slack_app_parser("python -m bench.slack_bare_app")
    p.add_argument("--mode", choices=("ack", "reply"), default="ack")
    p.add_argument("--shared-session", action="store_true",
                   help="give the AsyncWebClient one keep-alive aiohttp session (default: slack_sdk's session per call)")
    p.add_argument("--max-replies", type=int, default=64, help="reply tasks in flight at most (reply mode)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    app = build_app(
        token=os.environ["SLACK_BOT_TOKEN"],
        secret=os.environ["SLACK_SIGNING_SECRET"],
        api_url=args.api_url,
        mode=args.mode,
        max_replies=args.max_replies,
        shared_session=args.shared_session,
    )
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
