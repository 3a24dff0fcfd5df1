"""What a person typed, read back from the markup Slack sends it in.

Slack delivers message text with `&`, `<` and `>` escaped (`&amp;`, `&lt;`, `&gt;`) and with
links, emails and channels wrapped in angle brackets: a customer who types "ann@school.org"
arrives as `<mailto:ann@school.org|ann@school.org>`, "help.example.com" as
`<http://help.example.com|help.example.com>`. Taken as it arrives, the intake would store
`mailto:ann@school.org|ann@school.org>` around the email (and read the rest of it as steps), and
an agent's "a < b" would reach the customer as "a &lt; b". So every text from Slack is read back
to what the person typed before the engine sees it.

User mentions (`<@U0123>`) stay as they are: they name a person by Slack user id, which is how a
handover names its target (adapters/slack_commands.py), not words anyone typed.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def plain(text: str) -> str:
    """`text` as typed: links and emails as their words, channels as #name, entities unescaped."""
    return _unescape(_TOKEN.sub(_token, text))


def _token(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith("@"):  # a user mention: kept for whoever reads user ids
        return match.group(0)
    if target.startswith("#"):  # a channel: <#C0123|general>
        return f"#{label or target[1:]}"
    if target.startswith("!"):  # <!here>, <!subteam^S0123|@team>, <!date^…|fallback>
        return label or f"@{target[1:].split('^')[0]}"
    if target.lower().startswith("mailto:"):
        return label or target[len("mailto:"):]
    if label is None or label == target or label == _SCHEME.sub("", target):
        return label or target  # typed as a bare address, which Slack linked
    return f"{label} ({target})"  # a link with words of its own: both, so nothing is lost


def _unescape(text: str) -> str:
    """Slack's three entities (and only those: "&copy;" typed stays "&copy;"); `&amp;` last, so an
    escaped "&amp;lt;" reads "&lt;", as typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
