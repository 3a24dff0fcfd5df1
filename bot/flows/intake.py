"""Intake: collect the details Tier I needs (SOP 002), asking only for what the customer hasn't said."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.domain import Case
from bot.turn import Turn

_ACCOUNT_ID = re.compile(
    r"\b(user|class|child|student|account)[\s_-]*(?:id|#|number|no\.?)\s*(?:is|was|:|=|#|-)?\s*"
    r"([A-Za-z0-9][A-Za-z0-9_-]{2,40})\b",
    re.IGNORECASE,
)
_BROWSERS = {
    "chrome": "Chrome", "chromium": "Chromium", "firefox": "Firefox", "safari": "Safari",
    "edge": "Edge", "opera": "Opera", "brave": "Brave", "internet explorer": "Internet Explorer",
    "vivaldi": "Vivaldi", "samsung internet": "Samsung Internet",
}
_BROWSER = re.compile(r"\b(" + "|".join(sorted(_BROWSERS, key=len, reverse=True)) + r")\b", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_QUOTED_ERROR = re.compile(r"(?<!\w)[\"“'‘]([^\"“”\n]{3,300}?)[\"”'’](?!\w)")
# A sentence ends at . ! ? followed by a space or the end: "ann@school.org" or "file.csv" is not an end.
_TO_SENTENCE_END = r"(?:[^\n.!?]|[.!?](?=\S))"
_ERROR_CLAUSE = re.compile(
    r"\b(?:error(?:\s+message)?|it\s+says|message\s+says|says)\b\s*(?:is|was|reads|shows|says)?\s*[:\-]?\s*"
    rf"([^\s,;:.!?]{_TO_SENTENCE_END}{{2,299}})",
    re.IGNORECASE,
)
_NO_ERROR = re.compile(r"\b(?:no|without(?:\s+an?)?|not\s+(?:an?|any)|never\s+(?:got|get|see|saw)\s+an?)\s+error", re.IGNORECASE)
NO_ERROR = "no error message"
_ERROR_WORD = re.compile(r"\b(error|says|message|shows|getting)\b", re.IGNORECASE)
_STEPS_LABEL = re.compile(r"\bsteps?\b[^:\n]{0,30}:\s*(.{3,1000})", re.IGNORECASE | re.DOTALL)
_STEP_WORDS = re.compile(
    r"\b(clicked|click|clicking|went to|go to|opened|open|selected|select|typed|entered|tried to|then|after i|when i)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(rf"{_TO_SENTENCE_END}+[.!?]?")
# Words each pattern above needs, checked as plain substrings of the lower-cased text first: a
# regular expression with word boundaries and IGNORECASE costs ~10 µs per message even when it
# finds nothing, and most messages carry only some of the details (parse_details runs for every
# clause of every message).
_ACCOUNT_CUES = ("user", "class", "child", "student", "account")
_ERROR_CUES = ("error", "says", "message", "shows", "getting")
_STEP_CUES = ("click", "went to", "go to", "open", "select", "typed", "entered", "tried to", "then", "after i", "when i")
_CLAUSE = re.compile(r"(?<=[.!?;,\n])\s+|\s+-\s+")


def parse_details(text: str) -> dict[str, str]:
    """The intake details present in free text; keys are those of `intake.fields`."""
    found: dict[str, str] = {}
    lower = text.lower()
    if _mentions(lower, _ACCOUNT_CUES):
        account = next((m for m in _ACCOUNT_ID.finditer(text) if any(ch.isdigit() for ch in m.group(2))), None)
        if account:
            found["account_id"] = f"{account.group(1).lower()} ID {account.group(2)}"
    if _mentions(lower, _BROWSERS) and (browser := _BROWSER.search(text)):
        found["browser"] = _BROWSERS[browser.group(1).lower()]
    if "@" in text and (email := _EMAIL.search(text)):
        found["email"] = email.group(0)
    if _mentions(lower, _ERROR_CUES) and (error := _error_message(text)):
        found["error"] = error
    if ("step" in lower or _mentions(lower, _STEP_CUES)) and (steps := _steps(text)):
        found["steps"] = steps
    return found


def _mentions(lower: str, cues: Iterable[str]) -> bool:
    return any(cue in lower for cue in cues)


def without_details(text: str) -> str:
    """The clauses of `text` that carry no intake detail: what the problem is about.

    Help-article search should see this: IDs, emails and error codes match no article and only
    dilute the ranking's confidence. When every clause carries a detail, the text is kept whole.
    """
    clauses = [c for c in _CLAUSE.split(text) if c.strip()]
    about = [c.strip() for c in clauses if not parse_details(c) and not _STEPS_LABEL.search(c)]
    return " ".join(about) if about else text


def _error_message(text: str) -> str | None:
    if not _ERROR_WORD.search(text):
        return None
    if _NO_ERROR.search(text):  # "no error, it just hangs": the detail is given, and it is that
        return NO_ERROR
    if quoted := _QUOTED_ERROR.search(text):
        return quoted.group(1).strip()
    if clause := _ERROR_CLAUSE.search(text):
        return clause.group(1).strip()
    return None


def _steps(text: str) -> str | None:
    if labelled := _STEPS_LABEL.search(text):
        return labelled.group(1).strip()
    sentences = [_without_email(s) for s in _SENTENCE.findall(text) if _STEP_WORDS.search(s)]
    return " ".join(s for s in sentences if s) or None


def _without_email(sentence: str) -> str:
    """The sentence without its clauses that give an email: that is a detail of its own, not a step."""
    return ", ".join(part for part in sentence.strip().split(", ") if not _EMAIL.search(part))


def missing(turn: Turn, case: Case) -> list[str]:
    return [f for f in turn.settings.intake.fields if f not in case.details]


def absorb(case: Case, text: str) -> None:
    """Adds what `text` says to the case, never overwriting a detail already given."""
    for key, value in parse_details(text).items():
        case.details.setdefault(key, value)


def ask_if_needed(turn: Turn, case: Case) -> bool:
    """Asks for the still-missing details once (`intake.max_asks`); True when a question was asked."""
    gaps = missing(turn, case)
    if not gaps or case.intake_asks >= turn.settings.intake.max_asks:
        return False
    case.intake_asks += 1
    lines = "\n".join(f"• {turn.spiel('detail_' + field)}" for field in gaps)
    turn.say(case, turn.spiel("ask_details", missing=lines))
    return True
