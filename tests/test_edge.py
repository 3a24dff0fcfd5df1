"""The edge's rules one by one (adapters/edge.py); tests/test_edge_fuzz.py runs them through the app."""

from __future__ import annotations

import json

import pytest

from adapters import edge
from adapters.edge import INT64_MAX, INT64_MIN, Refused


def refused(call: object, *args: object, **kwargs: object) -> Refused:
    assert callable(call)
    with pytest.raises(Refused) as caught:
        call(*args, **kwargs)
    return caught.value


def test_json_within_the_limits_is_decoded() -> None:
    body = {"text": "caf\u00e9 \U0001F600", "n": [INT64_MIN, INT64_MAX, -0.5, 9.2e18], "deep": json.loads("[" * 63 + "]" * 63)}
    assert edge.json_value(json.dumps(body).encode()) == body
    assert edge.json_value('{"text": "\\ud83d\\ude00"}') == {"text": "\U0001F600"}  # a surrogate pair is one character


@pytest.mark.parametrize(
    ("raw", "status", "fragment"),
    [
        (b'"\\ud800"', 400, "lone surrogate"),
        (b'{"a": "x\\udc00"}', 400, "lone surrogate"),
        (b"\xff", 400, "not valid UTF-8"),
        (b'"\xed\xa0\x80"', 400, "not valid UTF-8"),  # a surrogate encoded as UTF-8 bytes
        (b"[" * 65 + b"]" * 65, 400, "nested deeper than 64"),  # one level too many, checked on the value
        (b"[" * 100_000, 400, "nested deeper than 64"),  # stopped by the decoder
        (b"9" * 5000, 400, "out of range"),
        (b"[9223372036854775808]", 400, "64-bit"),
        (b'{"a": -9223372036854775809}', 400, "64-bit"),  # which orjson reads as a float
        (b"[18446744073709551616]", 400, "64-bit"),
        (b"1.5e308", 400, "64-bit"),
        (b"1e400", 400, "out of range"),
        (b"NaN", 400, "not valid JSON"),
        (b"{", 400, "not valid JSON"),
        (b" " * (edge.MAX_BODY + 1), 413, f"larger than {edge.MAX_BODY} bytes"),
    ],
)
def test_json_outside_the_limits_is_refused_with_its_reason(raw: bytes, status: int, fragment: str) -> None:
    refusal = refused(edge.json_value, raw, what="The frame")
    assert (refusal.status, refusal.message.startswith("The frame")) == (status, True)
    assert fragment in refusal.message


@pytest.mark.parametrize("text", ["0", "42", "-7", "007", str(INT64_MAX), str(INT64_MIN)])
def test_whole_numbers_in_sqlite_range_are_read(text: str) -> None:
    assert edge.whole_number(text, name="after") == int(text)


@pytest.mark.parametrize("text", ["", "-", " 7", "7 ", "+7", "1_000", "١٢", "７", "1.0", "1e3", "0x10", str(INT64_MAX + 1), str(INT64_MIN - 1), "9" * 5000])
def test_anything_else_is_not_a_whole_number(text: str) -> None:
    assert refused(edge.whole_number, text, name="after").message == (
        "'after' must be a whole number from -9223372036854775808 to 9223372036854775807."
    )


def test_ranges_narrow_whole_numbers() -> None:
    assert refused(edge.whole_number, "0", name="case_id", minimum=1).message == "'case_id' must be a whole number from 1 to 9223372036854775807."
    assert edge.json_whole_number(5, name="after", minimum=0) == 5
    for value in (-1, True, 1.0, "1", None, INT64_MAX + 1):
        assert refused(edge.json_whole_number, value, name="after", minimum=0).status == 400


def test_headers_are_held_to_their_format() -> None:
    assert edge.digits("1700000000", name="X-Slack-Request-Timestamp") == "1700000000"
    for bad in ("", "abc", "-1", "１７００", "1" * 13):
        assert "X-Slack-Request-Timestamp must be up to 12 digits" in refused(edge.digits, bad, name="X-Slack-Request-Timestamp").message
    assert edge.ascii_text("v0=abc", name="X-Slack-Signature") == "v0=abc"
    for bad in ("v0=\u00e9", "v0=\udcff", "a\x00b", "x" * 1025):
        assert refused(edge.ascii_text, bad, name="The token", status=401).status == 401


def test_bodies_must_be_utf8() -> None:
    assert edge.utf8("caf\u00e9".encode()) == "caf\u00e9"
    assert refused(edge.utf8, b"caf\xc3").message == "The body is not valid UTF-8 text (byte 3)."


async def test_a_refusal_is_the_api_error_shape_or_an_error_frame() -> None:
    plain = Refused(400, "No.")
    assert (plain.response().status, json.loads(plain.response().text or "")) == (400, {"error": "No."})
    assert "Retry-After" not in plain.response().headers
    assert plain.frame() == {"type": "error", "error": "No."}
    limited = Refused(429, "Slow down.", retry_after=1.2)
    assert limited.response().headers["Retry-After"] == "2"  # whole seconds, rounded up
    assert json.loads(limited.response().text or "") == {"error": "Slow down.", "retry_after": 2}
    assert limited.frame() == {"type": "error", "error": "Slow down.", "retry_after": 2}
