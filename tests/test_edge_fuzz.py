"""Hostile input never becomes a 500 and never closes a socket (issue 11, part 5).

Through the real application (`create_app`, a real SQLite store, the fake Slack for the Slack
adapter): the reported cases and more as a corpus, then Hypothesis generating hostile JSON, text,
numbers and headers against every HTTP endpoint and both websockets. Each check: no 5xx; a
refused request stores nothing (row counts unchanged); a socket stays open and answers the next
good frame; the service goes on answering another customer. The fake clock jumps an hour before
each example so the rate limits (adapters/ratelimit.py) never get in the way of what is tested.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.server import RUNTIME, create_app
from adapters.slack_credentials import SlackCredentials
from bot.clock import FakeClock
from bot.store.sqlite import SQLiteStore
from tests.fake_slack import FakeSlack
from tests.harness import DEFAULT_ARTICLES, KeywordFinder, desk_settings
from tests.staff import bearer

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
SECRET = "fuzz-signing-secret"
TABLES = ("conversations", "cases", "messages", "notes", "tickets", "outbox", "inbox")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# ----- the service under test ------------------------------------------------------------------------


@dataclass
class Service:
    client: TestClient[Any, Any]
    clock: FakeClock
    db: Path
    cid: str = ""
    token: str = ""
    staff: dict[str, dict[str, str]] = field(default_factory=dict)  # roster id → Authorization header

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def counts(self) -> dict[str, int]:
        """Rows per table, read by a connection of its own (what is committed)."""
        with sqlite3.connect(self.db) as db:
            return {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}

    async def open(self) -> None:
        response = await self.client.post("/api/conversations", json={"name": "Ann"})
        assert response.status == 201
        body = await response.json()
        self.cid, self.token = body["id"], body["token"]
        for staff_id in ("ana", "tara"):
            self.staff[staff_id] = await bearer(self.client.app[RUNTIME].store, staff_id)

    async def refused_cleanly(self, send: Callable[[], Awaitable[int]]) -> int:
        """Sends one request: no 5xx, and a 4xx leaves every table as it was."""
        before = self.counts()
        status = await send()
        assert status < 500, status
        if status >= 400:
            assert self.counts() == before
        return status

    async def still_serving(self) -> None:
        """Another customer is answered: health, a good message handled, its reply readable."""
        assert (await self.client.get("/healthz")).status == 200
        other = Service(self.client, self.clock, self.db)
        await other.open()
        path = f"/api/conversations/{other.cid}/messages"
        assert (await self.client.post(path, json={"text": "I forgot my password"}, headers=other.auth)).status == 202
        lines = (await (await self.client.get(path, headers=other.auth)).json())["messages"]
        assert lines[-1]["from"] == "bot" and any(line["text"] == "I forgot my password" for line in lines)


def _app(tmp_path: Path, clock: FakeClock, slack: FakeSlack | None = None) -> web.Application:
    return create_app(
        desk_settings(business_hours={"open": "00:00", "close": "24:00"}),
        clock=clock,
        store=SQLiteStore(tmp_path / "fuzz.db"),
        articles=KeywordFinder(dict(DEFAULT_ARTICLES)),
        background=False,  # no timers or clean-ups changing rows between a request and its count
        slack=SlackCredentials("xoxb-fuzz", SECRET, api_url=slack.api_url) if slack is not None else None,
    )


@pytest.fixture
async def service(tmp_path: Path, aiohttp_client: AiohttpClient) -> Service:
    clock = FakeClock()
    running = Service(await aiohttp_client(_app(tmp_path, clock)), clock, tmp_path / "fuzz.db")
    await running.open()
    return running


@pytest.fixture
async def slack_service(tmp_path: Path, aiohttp_client: AiohttpClient) -> AsyncIterator[Service]:
    async with FakeSlack() as slack:
        clock = FakeClock()
        running = Service(await aiohttp_client(_app(tmp_path, clock, slack)), clock, tmp_path / "fuzz.db")
        await running.open()
        yield running


# ----- hostile material ------------------------------------------------------------------------------


def encode(value: Any) -> str:
    """JSON as a hostile client writes it: strings escaped as \\uXXXX (so a lone surrogate goes
    out as the escape it is), any integer at full length, NaN and infinities as bare words."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "NaN" if value != value else "1e999" if value == float("inf") else "-1e999" if value == float("-inf") else repr(value)
    if isinstance(value, str):
        return '"' + "".join(c if " " <= c <= "~" and c not in '"\\' else f"\\u{ord(c):04x}" if ord(c) < 0x10000
                             else "\\u{:04x}\\u{:04x}".format(*_pair(ord(c))) for c in value) + '"'
    if isinstance(value, list):
        return "[" + ",".join(encode(item) for item in value) + "]"
    return "{" + ",".join(f"{encode(str(k))}:{encode(v)}" for k, v in value.items()) + "}"


def _pair(code: int) -> tuple[int, int]:
    code -= 0x10000
    return 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)


SURROGATES = st.sampled_from(["\ud800", "\udfff", "\udc00\ud800", "a\ud83d", "\ude00b"])
TEXT = st.one_of(st.text(st.characters(exclude_categories=()), max_size=40), SURROGATES, st.just("x" * 5000))
BIG_INTS = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-(2**63) + 2),
    st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**400]),
)
SCALARS = st.one_of(st.none(), st.booleans(), BIG_INTS, st.floats(), TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)), max_leaves=12)


def deep(n: int, opener: bytes, closer: bytes, closed: bool) -> bytes:
    return opener * n + (b"1" + closer * n if closed else b"")


DEEP = st.builds(deep, st.integers(65, 120_000), st.sampled_from([b"[", b'{"a":']), st.sampled_from([b"]", b"}"]), st.booleans())
DIGITS = st.integers(20, 6000).map(lambda n: b'{"text": "x", "after": ' + b"9" * n + b"}")


def shaped(fields: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """A body of the right shape with hostile values in it, encoded as above."""
    return st.fixed_dictionaries(fields).map(lambda value: encode(value).encode())


CUSTOMER_BODIES = st.one_of(
    shaped({"text": TEXT}),
    shaped({"name": TEXT}),
    shaped({"text": st.just("hello"), "extra": VALUES}),
    shaped({"action": st.fixed_dictionaries({"id": TEXT, "value": VALUES})}),
    VALUES.map(lambda value: encode(value).encode()),
    DEEP,
    DIGITS,
    st.binary(max_size=64),
    st.sampled_from([b"", b"{", b'{"text": "\xff"}', b'{"text": "\xed\xa0\x80"}', b"\xef\xbb\xbf{}", b"null", b"[]"]),
)
CUSTOMER_FRAMES = st.one_of(
    shaped({"type": st.just("resume"), "after": st.one_of(BIG_INTS, SCALARS)}),
    shaped({"type": st.sampled_from(["message", "action"]), "text": TEXT, "action": VALUES}),
    shaped({"type": VALUES}),
    VALUES.map(lambda value: encode(value).encode()),
    DEEP,
    DIGITS,
).map(lambda raw: raw.decode("utf-8", errors="replace"))
CONSOLE_FRAMES = st.one_of(
    shaped({"type": st.just("command"), "command": TEXT, "case_id": st.one_of(BIG_INTS, SCALARS), "text": TEXT, "tags": VALUES, "fields": VALUES}),
    VALUES.map(lambda value: encode(value).encode()),
    DEEP,
    DIGITS,
).map(lambda raw: raw.decode("utf-8", errors="replace"))
NUMBERS = st.one_of(
    BIG_INTS.map(str),
    st.text(max_size=30),
    st.sampled_from(["9" * 5000, "-9223372036854775809", "9223372036854775808", "٣", "1_000", " 7", "+7", "0x10", "1e3", "", "９", "-"]),
)
HEADERS = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=80)  # what an HTTP client can send at all


# ----- the corpus: the reported cases and more -----------------------------------------------------


REPORTED_BODIES = [
    (b'{"text": "\\ud800"}', "surrogate"),
    (b'{"name": "\\ud800"}', "surrogate"),
    (b"[" * 100_000, "nested deeper than 64"),
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested deeper than 64"),
    (b'{"text": "x", "n": ' + b"9" * 5000 + b"}", "out of range"),
    (b'{"text": "x", "n": 9223372036854775808}', "64-bit"),
    (b'{"text": "caf\xc3"}', "UTF-8"),
    (b'{"text": "\xed\xa0\x80"}', "UTF-8"),
]


@pytest.mark.parametrize(("body", "fragment"), REPORTED_BODIES)
async def test_reported_bodies_get_a_400_that_names_the_problem(service: Service, body: bytes, fragment: str) -> None:
    for path, headers in (
        (f"/api/conversations/{service.cid}/messages", service.auth),
        ("/api/conversations", {}),
    ):
        async def send() -> int:
            response = await service.client.post(path, data=body, headers={**headers, "Content-Type": "application/json"})
            assert fragment in (await response.json())["error"]
            return response.status

        assert await service.refused_cleanly(send) == 400
    await service.still_serving()


@pytest.mark.parametrize("after", [str(2**63), "-9223372036854775809", "9" * 5000, "٣", "1_000", " 7", "-1", "1.0", "0x1"])
async def test_numbers_beyond_sqlite_or_not_digits_are_refused(service: Service, after: str) -> None:
    response = await service.client.get(f"/api/conversations/{service.cid}/messages", params={"after": after}, headers=service.auth)
    assert response.status == 400
    assert "'after' must be a whole number" in (await response.json())["error"]
    response = await service.client.get(f"/api/agent/cases/{quote(after)}", headers=service.staff["ana"])
    assert response.status == 400
    assert "'case_id' must be a whole number" in (await response.json())["error"]
    assert (await service.client.get(f"/api/conversations/{service.cid}/messages", params={"after": "9223372036854775807"}, headers=service.auth)).status == 200
    assert (await service.client.get("/api/agent/cases/9223372036854775807", headers=service.staff["ana"])).status == 404


async def _raw_request(client: TestClient[Any, Any], request: bytes) -> int:
    """Bytes no HTTP client library would send (a header that is not UTF-8), over a plain socket."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


@pytest.mark.parametrize("token", [b"\xff\xfe", b"\xed\xa0\x80", "é".encode(), b"a" * 5000])
async def test_a_token_that_is_not_ascii_is_a_401(service: Service, token: bytes) -> None:
    request = (f"GET /api/conversations/{service.cid}/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               f"Authorization: Bearer ").encode() + token + b"\r\n\r\n"
    assert await _raw_request(service.client, request) == 401
    await service.still_serving()


async def _exchange(socket: Any, frame: str, marker: str, fragment: str) -> list[dict[str, Any]]:
    """Sends a frame, then a good frame whose answer contains `fragment`; returns what came back
    up to that answer. The socket must stay open throughout."""
    await socket.send_str(frame)
    await socket.send_str(marker)
    return await _until(socket, lambda payload: payload["type"] == "error" and fragment in payload["error"])


async def _until(socket: Any, wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Frames up to the first one `wanted`, every one of them JSON text on an open socket (live
    pushes and console snapshots may come in between)."""
    got = []
    while True:
        message = await socket.receive(timeout=5)
        assert message.type is WSMsgType.TEXT, (message.type, message.data, socket.close_code)
        got.append(json.loads(message.data))
        if wanted(got[-1]):
            assert not socket.closed
            return got


CUSTOMER_REPORTED_FRAMES = [
    ('{"type": "resume", "after": 9223372036854775808}', "64-bit"),
    ('{"type": "resume", "after": ' + "9" * 5000 + "}", "out of range"),
    ("[" * 100_000, "nested deeper than 64"),
    ('{"a":' * 50_000 + "1" + "}" * 50_000, "nested deeper than 64"),
    ('{"type": "message", "text": "\\ud800"}', "surrogate"),
    ('{"type": "resume", "after": -1}', "'after' must be a whole number"),
    ('{"type": "resume", "after": true}', "'after' must be a whole number"),
]


async def test_the_customer_socket_answers_reported_frames_with_errors_and_stays_open(service: Service) -> None:
    async with service.client.ws_connect(f"/api/conversations/{service.cid}/ws", params={"token": service.token}) as socket:
        for number, (frame, fragment) in enumerate(CUSTOMER_REPORTED_FRAMES):
            before = service.counts()
            got = await _exchange(socket, frame, json.dumps({"type": f"marker-{number}"}), f"marker-{number}")
            assert fragment in got[0]["error"]
            assert service.counts() == before
        await socket.send_json({"type": "resume", "after": 0})
        assert (await socket.receive_json(timeout=5))["message"]["seq"] == 1
    await service.still_serving()


async def test_the_console_socket_answers_reported_frames_with_errors_and_stays_open(service: Service) -> None:
    async with service.client.ws_connect("/api/agent/ws", headers=service.staff["ana"]) as socket:
        assert (await socket.receive_json(timeout=5))["type"] == "state"
        for number, (frame, fragment) in enumerate([
            ('{"type": "command", "command": "case", "case_id": 9223372036854775808}', "64-bit"),
            ("[" * 100_000, "nested deeper than 64"),
            ('{"type": "command", "command": "say", "case_id": 1, "text": "\\ud800"}', "surrogate"),
        ]):
            before = service.counts()
            got = await _exchange(socket, frame, _console_marker(number), _console_fragment(number))
            assert fragment in got[0]["error"]
            assert service.counts() == before


def _console_marker(number: int) -> str:
    """A good frame with a unique answer: a message one character longer each time than allowed."""
    return json.dumps({"type": "command", "command": "say", "case_id": 1, "text": "z" * (4001 + number)})


def _console_fragment(number: int) -> str:
    return f"({4001 + number} characters"


def slack_headers(body: bytes, *, timestamp: str | None = None, signature: str | None = None, kind: str = "application/json") -> dict[str, str]:
    """Headers as Slack sends them, signed over the raw bytes (slack_sdk's signer only takes UTF-8)."""
    stamp = str(int(time.time())) if timestamp is None else timestamp
    mac = hmac.new(SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": kind, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={mac}" if signature is None else signature}


@pytest.mark.parametrize(
    ("body", "headers", "status", "fragment"),
    [
        (b'{"type": "url_verification", "challenge": "x"}', {"timestamp": "abc"}, 400, "X-Slack-Request-Timestamp"),
        (b'{"type": "url_verification", "challenge": "x"}', {"timestamp": "١٧٠٠٠٠٠٠٠٠"}, 400, "X-Slack-Request-Timestamp"),
        (b'{"type": "url_verification", "challenge": "x"}', {"timestamp": "9" * 5000}, 400, "X-Slack-Request-Timestamp"),
        (b'{"type": "url_verification", "challenge": "x"}', {"signature": "v0=é"}, 400, "X-Slack-Signature"),
        (b'{"type": "event_callback", "event_id": "Ev1", "event": {"text": "\xff"}}', {}, 400, "UTF-8"),
        (b"command=%2Fsb-case&text=\xfe", {"kind": "application/x-www-form-urlencoded"}, 400, "UTF-8"),
        (b'{"type": "event_callback", "event_id": "Ev1", "event": {"text": "\\ud800"}}', {}, 400, "surrogate"),
        (b"[" * 100_000, {}, 400, "nested deeper than 64"),
        (b'{"type": "event_callback", "event_id": "Ev1", "event": {"n": ' + b"9" * 5000 + b"}}", {}, 400, "out of range"),
        (b"payload=" + quote("[" * 5000).encode(), {"kind": "application/x-www-form-urlencoded"}, 400, "nested deeper than 64"),
    ],
)
async def test_reported_slack_deliveries_get_a_4xx_and_nothing_is_recorded(
    slack_service: Service, body: bytes, headers: dict[str, str], status: int, fragment: str
) -> None:
    async def send() -> int:
        response = await slack_service.client.post("/slack/events", data=body, headers=slack_headers(body, **headers))
        assert fragment in (await response.json())["error"]
        return response.status

    assert await slack_service.refused_cleanly(send) == status
    await slack_service.still_serving()


# ----- generated: every endpoint -----------------------------------------------------------------------


@FUZZ
@given(body=CUSTOMER_BODIES)
async def test_generated_bodies_on_the_customer_api(service: Service, body: bytes) -> None:
    service.clock.advance(3600)
    for path, headers in ((f"/api/conversations/{service.cid}/messages", service.auth), ("/api/conversations", {})):
        async def send() -> int:
            return (await service.client.post(path, data=body, headers={**headers, "Content-Type": "application/json"})).status

        await service.refused_cleanly(send)
    await service.still_serving()


@FUZZ
@given(after=NUMBERS, limit=NUMBERS, case_id=NUMBERS, words=st.text(max_size=50), token=HEADERS)
async def test_generated_numbers_queries_and_headers(service: Service, after: str, limit: str, case_id: str, words: str, token: str) -> None:
    service.clock.advance(3600)
    requests = [
        lambda: service.client.get(f"/api/conversations/{service.cid}/messages", params={"after": after, "limit": limit}, headers=service.auth),
        lambda: service.client.get(f"/api/conversations/{service.cid}/messages", headers={"Authorization": token}),
        lambda: service.client.post(f"/api/conversations/{service.cid}/messages", json={"text": "hi"}, headers={"Authorization": f"Bearer {token}"}),
        lambda: service.client.get(f"/api/conversations/{service.cid}/ws", params={"token": token}),
        lambda: service.client.get(f"/api/agent/cases/{quote(case_id, safe='')}", headers=service.staff["ana"]),
        lambda: service.client.get("/api/agent/articles", params={"q": words}, headers=service.staff["ana"]),
        lambda: service.client.get("/api/agent/ws", params={"staff": words}),
        lambda: service.client.get("/api/agent/me", headers={"Authorization": token}),
    ]
    for request in requests:
        async def send(request: Callable[[], Any] = request) -> int:
            return int((await request()).status)

        await service.refused_cleanly(send)
    await service.still_serving()


@FUZZ
@given(frame=CUSTOMER_FRAMES, binary=st.binary(max_size=32))
async def test_generated_frames_on_the_customer_socket(service: Service, frame: str, binary: bytes) -> None:
    service.clock.advance(3600)
    async with service.client.ws_connect(f"/api/conversations/{service.cid}/ws", params={"token": service.token}) as socket:
        await _exchange(socket, frame, '{"type": "marker"}', "'marker'")
        await socket.send_bytes(binary)
        await _until(socket, lambda payload: payload.get("error") == "Send JSON text frames.")
        await socket.send_json({"type": "resume", "after": 0})
        await _until(socket, lambda payload: payload["type"] == "message" and payload["message"]["seq"] == 1)
    await service.still_serving()


@FUZZ
@given(frame=CONSOLE_FRAMES)
async def test_generated_frames_on_the_console_socket(service: Service, frame: str) -> None:
    service.clock.advance(3600)
    async with service.client.ws_connect("/api/agent/ws", headers=service.staff["tara"]) as socket:
        await _exchange(socket, frame, _console_marker(0), _console_fragment(0))
    await service.still_serving()


def _form(fields: dict[str, Any]) -> bytes:
    """A form body; lone surrogates go out as the bytes they would be in UTF-8 (which is invalid)."""
    return urlencode({k: v if isinstance(v, str) else encode(v) for k, v in fields.items()}, errors="surrogatepass").encode()


SLACK_BODIES = st.one_of(
    st.tuples(shaped({"type": st.just("event_callback"), "event_id": TEXT, "event": VALUES}), st.just("application/json")),
    st.tuples(VALUES.map(lambda value: encode(value).encode()), st.just("application/json")),
    st.tuples(st.one_of(DEEP, DIGITS, st.binary(max_size=64)), st.sampled_from(["application/json", "application/x-www-form-urlencoded"])),
    st.tuples(st.fixed_dictionaries({"payload": VALUES}).map(_form), st.just("application/x-www-form-urlencoded")),
    st.tuples(st.fixed_dictionaries({"command": st.just("/sb-case"), "text": st.text(max_size=40), "user_id": TEXT}).map(_form),
              st.just("application/x-www-form-urlencoded")),
)


@FUZZ
@given(delivery=SLACK_BODIES)
async def test_generated_slack_bodies(slack_service: Service, delivery: tuple[bytes, str]) -> None:
    """Signed as Slack signs, so each body gets past the signature to the decoding."""
    body, kind = delivery

    async def send() -> int:
        return (await slack_service.client.post("/slack/events", data=body, headers=slack_headers(body, kind=kind))).status

    await slack_service.refused_cleanly(send)
    assert (await slack_service.client.get("/healthz")).status == 200


@FUZZ
@given(timestamp=st.one_of(HEADERS, NUMBERS.filter(lambda t: t.isascii() and t.isprintable())), signature=st.one_of(st.none(), HEADERS))
async def test_generated_slack_headers(slack_service: Service, timestamp: str, signature: str | None) -> None:
    body = b'{"type": "url_verification", "challenge": "x"}'

    async def send() -> int:
        headers = slack_headers(body, timestamp=timestamp, signature=signature)
        return (await slack_service.client.post("/slack/events", data=body, headers=headers)).status

    await slack_service.refused_cleanly(send)


@FUZZ
@given(segment=st.one_of(TEXT, NUMBERS), query=st.dictionaries(st.text(max_size=10), st.one_of(TEXT, NUMBERS), max_size=3))
async def test_every_route_takes_hostile_paths_and_queries(service: Service, segment: str, query: dict[str, str]) -> None:
    """Each route of the application, its path parameters and query filled with hostile text."""
    service.clock.advance(3600)
    encoded = quote(segment.encode("utf-8", "surrogatepass"), safe="")
    params = {k.encode("utf-8", "surrogatepass").decode("utf-8", "replace"): v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
              for k, v in query.items()}
    for resource in service.client.app.router.resources():
        path = resource.canonical
        for name in ("{id}", "{case_id}", "{filename}"):
            path = path.replace(name, encoded)
        for method in {route.method for route in resource}:
            if method == "HEAD":
                continue

            async def send(method: str = method, path: str = path) -> int:
                return (await service.client.request(method, path, params=params, data=b"{}", headers=service.auth)).status

            await service.refused_cleanly(send)
    await service.still_serving()
