"""Slack customers' first names, for spiels ("Hi Jo, just checking you're with me?").

When Slack includes a `user_profile` in a message event, the name costs nothing. When it does
not, `users.info` is asked in the background, never on the way from an event to its
reply (a Web API round trip per new customer would cost as much as the reply itself), and only
once a chat goes to a person, whose spiels use the name (the bot's own lines do not); the name
reaches the engine as a `CustomerNamed` event. Lookups wait in a bounded queue: a burst of
new customers sheds lookups instead of piling up tasks, because a name is a nicety, never needed.
The one name looked up on the way is that of someone writing in a shared chat's thread who is not
the customer: no reply waits on it, and their line reaches the agent under it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

NAME_CHARS = 40


def first_name(profile: dict[str, Any]) -> str:
    """The first word of the display name, else of the real name ('' when neither is set)."""
    name = str(profile.get("display_name") or profile.get("real_name") or profile.get("first_name") or "")
    return name.strip().split(" ")[0][:NAME_CHARS]


class CustomerNames:
    def __init__(
        self,
        client: AsyncWebClient,
        on_found: Callable[[str, str], Awaitable[None]],
        *,
        remember: int = 10_000,
        pending: int = 256,
    ) -> None:
        self.client = client
        self.on_found = on_found  # (conversation id, first name)
        self._names: OrderedDict[str, str] = OrderedDict()
        self._remember = remember
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=pending)
        self._queued: set[str] = set()

    def known(self, user: str, event: dict[str, Any]) -> str:
        """The name the event carries (remembered for later events), else one learnt before."""
        profile = event.get("user_profile")
        name = first_name(profile) if isinstance(profile, dict) else ""
        if name:
            self._remember_name(user, name)
            return name
        if user in self._names:
            self._names.move_to_end(user)
            return self._names[user]
        return ""

    async def name_now(self, user: str, event: dict[str, Any]) -> str:
        """The name at once, asking Slack if need be: for a line that shows it (someone other than
        the customer writing in a chat's thread, relayed to the agent under their own name), which
        would otherwise go out nameless."""
        name = self.known(user, event) or await self._ask_slack(user)
        if name:
            self._remember_name(user, name)
        return name

    def look_up(self, user: str, conversation_id: str) -> None:
        """Finds the name in the background (Slack is asked unless it was learnt before, e.g. from
        another chat of the same customer) and hands it to the conversation; dropped when the
        queue is full."""
        if user in self._queued:
            return
        try:
            self._queue.put_nowait((user, conversation_id))
        except asyncio.QueueFull:
            log.debug("customer name lookup skipped: queue full")
            return
        self._queued.add(user)

    async def run(self) -> None:
        """The background worker: one lookup at a time."""
        while True:
            user, conversation_id = await self._queue.get()
            self._queued.discard(user)
            name = self._names.get(user) or await self._ask_slack(user)
            if not name:
                continue
            self._remember_name(user, name)
            try:
                await self.on_found(conversation_id, name)
            except Exception:  # a name must never take the worker down
                log.exception("customer name could not be stored")

    async def _ask_slack(self, user: str) -> str:
        try:
            answer = await self.client.users_info(user=user)
        except (SlackApiError, OSError, asyncio.TimeoutError) as exc:
            log.info("customer name lookup failed", extra={"error": type(exc).__name__})
            return ""
        found = answer.get("user") or {}
        return first_name({"real_name": found.get("real_name"), **(found.get("profile") or {})})

    def _remember_name(self, user: str, name: str) -> None:
        self._names[user] = name
        self._names.move_to_end(user)
        while len(self._names) > self._remember:
            self._names.popitem(last=False)
