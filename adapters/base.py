"""What every platform adapter provides: its HTTP routes, and the typed output port.

Inbound, an adapter verifies and parses a platform payload into a neutral event and hands it to
the runtime; outbound, it implements `bot.ports.Port` (show a line, notify staff, a case changed),
which the dispatcher calls with typed actions decoded from the outbox. Nothing platform-specific
crosses into `bot/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from aiohttp import web

from bot.ports import Port


class Adapter(Port, Protocol):
    def setup(self, app: web.Application) -> None:
        """Adds the adapter's routes (and start-up/clean-up hooks) to the application."""
        ...


def json_error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> web.Response:
    """Every API error has the same shape: {"error": "<what went wrong, for a person>"}."""
    return web.json_response({"error": message}, status=status, headers=headers)
