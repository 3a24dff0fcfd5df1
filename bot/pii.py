"""Masking personal data for Tier I, who work from IDs only (SOP 002: no PII at Tier I)."""

from __future__ import annotations

import re

from bot.domain import Role

_EMAIL = re.compile(r"\b([\w.+-])[\w.+-]*@([\w-]+(?:\.[\w-]+)+)\b")
PHONE = re.compile(r"(?<![\w-])(?:\+\d[\d\s().-]{6,18}\d|\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}|\d{10,13})(?![\w-])")
TRUSTED_ROLES = frozenset({Role.TIER2, Role.MANAGER})


def redact(text: str) -> str:
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return PHONE.sub(lambda m: "•••" + re.sub(r"\D", "", m.group(0))[-2:], text)


def shorten(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters, never inside personal data: masking happens later,
    per reader, and a cut email ("ann@scho") would no longer be recognised and masked."""
    if len(text) <= limit:
        return text
    cut = limit
    for pattern in (_EMAIL, PHONE):
        for match in pattern.finditer(text, 0, min(len(text), limit + 200)):
            if match.start() < cut < match.end():
                cut = match.start()
    return text[:cut].rstrip() + "…"


def for_role(role: Role, text: str) -> str:
    return text if role in TRUSTED_ROLES else redact(text)
