"""What every platform adapter provides: its HTTP routes, and delivery of outbox payloads.

Inbound, an adapter verifies and parses a platform payload into a neutral event and hands it to
the runtime; outbound, it turns payloads (see `bot.events.action_payload`) into platform calls,
with `deliver` (bot.runtime.LiveOutlet) or, for a chat platform whose posts must not be repeated,
`deliver_once` (bot.runtime.OnceOutlet). Nothing platform-specific crosses into `bot/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

from bot.events import CaseChanged, NotifyStaff


class Adapter(Protocol):
    name: str
    serves_staff: bool
    shows_customer_messages: bool  # customers' own messages are echoed back to this platform
    durable: bool  # deliveries go through the persisted outbox and are retried until they succeed

    def setup(self, app: web.Application) -> None:
        """Adds the adapter's routes (and start-up/clean-up hooks) to the application."""
        ...

    def wants(self, action: NotifyStaff | CaseChanged) -> bool:
        """Whether this staff-facing adapter acts on the notice (else it is never routed to it)."""
        ...


def json_error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> web.Response:
    """Every API error has the same shape: {"error": "<what went wrong, for a person>"}."""
    return web.json_response({"error": message}, status=status, headers=headers)
