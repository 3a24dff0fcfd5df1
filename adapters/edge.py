"""The edge: everything that arrives from outside is checked here before an adapter acts on it.

Request bodies and websocket frames, whole numbers from paths, queries and frames, and header
values that code relies on all pass through these functions, for every adapter (web chat, agent
console, Slack; Teams next). A refusal is one exception, `Refused`: a 4xx status and a message
naming the problem for the sender. The `refusals` middleware turns it into the API's error shape
and websocket handlers send it as an error frame, so hostile input (a lone surrogate, JSON nested
100,000 deep, a 5,000-digit number, an id past SQLite's 64-bit integers, a header that is not what
the platform sends) is answered with a 4xx instead of failing deep inside as a 500 or a closed
socket, and nothing of it is stored. Rate limits (adapters/ratelimit.py) refuse the same way.
"""

from __future__ import annotations

import math
import re
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from bot import codec

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1  # SQLite's INTEGER: past these, sqlite3 raises OverflowError
MAX_BODY = 1 << 20  # the application's client_max_size
MAX_DEPTH = 64  # Slack's deepest payloads (rich text in blocks) use about 10 levels; ours use 3

_WHOLE = re.compile(r"-?[0-9]{1,19}")  # ASCII digits only: int() would also take ' 7', '1_000' and '١٢٣'
_DIGITS = re.compile(r"[0-9]+")


class Refused(Exception):
    """The edge refuses a request or frame: a 4xx status and a message for the sender.

    `retry_after` (seconds, rounded up) is set when the refusal is a rate limit (429): it becomes
    the Retry-After header, and `retry_after` in the JSON body and the error frame."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = None if retry_after is None else math.ceil(retry_after)

    def response(self) -> web.Response:
        """The API's error shape: {"error": "..."} (and "retry_after" for a rate limit)."""
        if self.retry_after is None:
            return web.json_response({"error": self.message}, status=self.status)
        return web.json_response(
            {"error": self.message, "retry_after": self.retry_after},
            status=self.status,
            headers={"Retry-After": str(self.retry_after)},
        )

    def frame(self) -> dict[str, Any]:
        """The same refusal as a websocket error frame; the socket stays open."""
        if self.retry_after is None:
            return {"type": "error", "error": self.message}
        return {"type": "error", "error": self.message, "retry_after": self.retry_after}


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Any handler may raise Refused; the client gets its status and message."""
    try:
        return await handler(request)
    except Refused as exc:
        return exc.response()


# ----- bodies and frames --------------------------------------------------------------------------


async def read_json(request: web.Request, *, what: str = "The body", max_bytes: int = MAX_BODY) -> Any:
    """A request's JSON body, read within `max_bytes` and checked as `json_value` does."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise Refused(413, f"{what} is larger than {max_bytes} bytes.")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Refused(413, f"{what} is larger than {max_bytes} bytes.") from None
    return json_value(raw, what=what, max_bytes=max_bytes)


def json_value(raw: bytes | str, *, what: str = "The body", max_bytes: int = MAX_BODY, max_depth: int = MAX_DEPTH) -> Any:
    """Decoded JSON that is safe to hand on: at most `max_bytes` long (characters, for a frame
    aiohttp has already decoded), valid UTF-8 without lone surrogates (they cannot be stored or
    encoded again), at most `max_depth` levels deep, and every number within SQLite's 64-bit
    integers (-2^63 to 2^63-1). orjson enforces the encoding, a depth of 1,024 and finite numbers;
    the narrower depth and the range are checked on the decoded value."""
    if len(raw) > max_bytes:
        raise Refused(413, f"{what} is larger than {max_bytes} bytes.")
    try:
        value = codec.loads(raw)
    except codec.JSONDecodeError as exc:
        raise Refused(400, f"{what} is not valid JSON: {_reason(exc, max_depth)}.") from None
    _check_tree(value, what=what, max_depth=max_depth)
    return value


def _reason(exc: codec.JSONDecodeError, max_depth: int) -> str:
    """orjson's complaint in the sender's terms (its wording is matched, so its tests pin it)."""
    message = exc.msg
    if "depth limit" in message:
        return f"it is nested deeper than {max_depth} levels"
    if "not valid UTF-8" in message:
        return "it is not valid UTF-8 text"
    if "surrogate" in message:
        return f"a \\u escape at character {exc.pos} is a lone surrogate, which is not a Unicode character"
    if "infinity" in message:
        return f"the number at character {exc.pos} is out of range"
    return f"{message} at character {exc.pos}"


def _check_tree(value: Any, *, what: str, max_depth: int) -> None:
    """Depth and number range over the decoded value, without recursion (a few µs for a Slack
    event). Floats are held strictly inside the range: orjson reads a whole number past 64 bits
    as a float, and -2^63 - 1 rounds to the float -2^63."""
    stack: list[tuple[Any, int]] = [([value], 0)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise Refused(400, f"{what} is not valid JSON: it is nested deeper than {max_depth} levels.")
        for child in node.values() if type(node) is dict else node:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif (kind is int and not INT64_MIN <= child <= INT64_MAX) or (kind is float and not INT64_MIN < child < INT64_MAX):
                raise Refused(400, f"{what} has a number outside the 64-bit range (-2^63 to 2^63-1).")


def utf8(raw: bytes, *, what: str = "The body") -> str:
    """Bytes that must be UTF-8 text (Python's codec also refuses encoded surrogates)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, f"{what} is not valid UTF-8 text (byte {exc.start}).") from None


# ----- numbers -----------------------------------------------------------------------------------


def whole_number(text: str, *, name: str, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """A whole number from a path or query: ASCII digits with an optional minus, within range."""
    if _WHOLE.fullmatch(text) and minimum <= (number := int(text)) <= maximum:
        return number
    raise Refused(400, f"'{name}' must be a whole number from {minimum} to {maximum}.")


def json_whole_number(value: Any, *, name: str, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """A whole number from decoded JSON: an integer (not true/false, not 1.0) within range."""
    if type(value) is int and minimum <= value <= maximum:
        return value
    raise Refused(400, f"'{name}' must be a whole number from {minimum} to {maximum}.")


# ----- headers -----------------------------------------------------------------------------------


def digits(value: str, *, name: str, max_digits: int = 12) -> str:
    """A header that must be ASCII digits, e.g. a Unix time in seconds (12 digits last past the year 30,000)."""
    if len(value) <= max_digits and _DIGITS.fullmatch(value):
        return value
    raise Refused(400, f"{name} must be up to {max_digits} digits (0-9).")


def ascii_text(value: str, *, name: str, max_length: int = 1024, status: int = 400) -> str:
    """A header value that must be printable ASCII (a token, a signature): header bytes reach us
    as the client sent them, and hashing or hmac.compare_digest fail on anything else."""
    if len(value) <= max_length and value.isascii() and value.isprintable():
        return value
    raise Refused(status, f"{name} must be printable ASCII of at most {max_length} characters.")
