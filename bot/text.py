"""Cleaning what people type before anything is stored: the same rules on every platform."""

from __future__ import annotations

import re
import unicodedata

# Control characters, the zero-width space and direction marks, and the bidi embeddings, overrides
# and isolates that can make stored text read differently from what was typed. The zero-width
# (non-)joiners stay: emoji sequences (a family, a flag with a modifier) and scripts such as
# Persian and Hindi need them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class TextTooLong(ValueError):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"message of {length} characters exceeds the limit of {limit}")
        self.length = length
        self.limit = limit


def clean(raw: str, *, limit: int) -> str:
    """NFC-normalised text without control or bidi-override characters; raises TextTooLong.

    The length is checked before anything is stored, so an oversized message leaves no trace.
    """
    text = _CONTROL.sub("", unicodedata.normalize("NFC", raw.replace("\r\n", "\n")))
    if len(text) > limit:
        raise TextTooLong(len(text), limit)
    return text
