"""The two Web API calls every reply makes (chat.postMessage, chat.update), made lean.

slack_sdk's AsyncWebClient spends about 340 µs of CPU per call here against 180 µs for the same
JSON POST on the same keep-alive aiohttp session (bench/README.md): URL joining, header and
argument building, response objects and retry-handler plumbing run for every message. A reply
per event is the bot's hottest path, so these two calls go straight to the session; everything
else (users.info, ephemeral messages, auth.test, bolt's interactivity) keeps using the client.

Errors come back as `DeliveryError`, so the outbox retries them: after `Retry-After` for a 429,
with backoff otherwise. `NotDone`, a kind of it, says Slack certainly did nothing (it answered
with a refusal, or was never reached); any other failure (a timeout, a cut connection, a 5xx,
`fatal_error`) may hide a call Slack carried out (adapters/slack_once.py looks before posting again).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from bot import codec
from bot.ports import DeliveryError

# Slack's answers that do not say whether the call was carried out (fatal_error: "it's possible
# some aspect of the operation succeeded before the error was raised")
UNSURE = frozenset({"fatal_error", "internal_error", "request_timeout", "service_unavailable"})


class NotDone(DeliveryError):
    """Slack certainly did not carry the call out: it said no (`error`: Slack's code, `ratelimited`
    for a 429, `http_<status>` for another 4xx), or the connection to it could not be opened
    (`unreachable`)."""

    def __init__(self, method: str, error: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"slack: {method} failed: {error}", retry_after=retry_after)
        self.error = error


class SlackCalls:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"}
        self.session: aiohttp.ClientSession | None = None

    async def post_message(self, **arguments: Any) -> dict[str, Any]:
        return await self.call("chat.postMessage", arguments)

    async def update(self, **arguments: Any) -> dict[str, Any]:
        return await self.call("chat.update", arguments)

    async def call(self, method: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """One Web API call with a JSON body; Slack's answer when it says ok, else DeliveryError."""
        if self.session is None:
            raise DeliveryError("slack: not connected yet")
        body = {k: v for k, v in arguments.items() if v is not None}
        try:
            async with self.session.post(self.base_url + method, data=codec.dump_bytes(body), headers=self._headers) as response:
                if response.status == 429:
                    raise NotDone(method, "ratelimited", retry_after=_seconds(response.headers.get("Retry-After")))
                if 400 <= response.status < 500:
                    raise NotDone(method, f"http_{response.status}")
                if response.status >= 500:
                    raise DeliveryError(f"slack: {method} answered HTTP {response.status}")
                answer: dict[str, Any] = codec.loads(await response.read())
        except aiohttp.ClientConnectorError as exc:  # no connection, so no request
            raise NotDone(method, "unreachable") from exc
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as exc:
            raise DeliveryError(f"slack unreachable: {exc!r}") from exc
        if not answer.get("ok"):
            error = str(answer.get("error", "unknown_error"))
            if error in UNSURE:
                raise DeliveryError(f"slack: {method} failed: {error}")
            raise NotDone(method, error)
        return answer


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 1.0
    except ValueError:
        return 1.0
