"""JSON for the hot path: every stored world, transcript line, outbox row and Web API call.

A Slack event is encoded or decoded about twenty times on its way through (payload, conversation,
case, buttons, outbox row, request and response bodies); orjson takes 0.3 µs to encode a Slack
event and 1.3 µs to decode it, the standard library 4.7 and 4.4 µs. Text is always `str`, so
SQLite stores TEXT, which its own json functions read.
"""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError  # a ValueError, like json.JSONDecodeError


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def dump_bytes(value: Any) -> bytes:
    """For a request body: no round trip through `str`."""
    return orjson.dumps(value)


def loads(data: str | bytes) -> Any:
    return orjson.loads(data)
