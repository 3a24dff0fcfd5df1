"""Reading intent cues in customer text (a manager, a call back, "that worked", a sign-off).

Each configured phrase list (`[language]`) becomes one regular expression that matches its phrases
as whole words, case-insensitively, with any run of spaces between words and typographic
apostrophes treated as straight ones. Contractions work as spaCy's tokenizer splits them: the phrase
"n't" matches inside "didn't". This replaced a spaCy PhraseMatcher: the same phrases, about ten times
faster per message, and without spaCy's vocabulary growing with every new word customers type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from bot.config import LanguageSettings


def _normalise(text: str) -> str:
    """Lower case with straight apostrophes, so "DIDN’T" reads like "didn't"."""
    return text.lower().replace("’", "'").replace("‘", "'")


def _phrase_pattern(phrase: str) -> str:
    words = _normalise(phrase).split()
    body = r"\s+".join(re.escape(word) for word in words)
    # whole words only; a phrase that starts inside a word ("n't") or is punctuation ("?") may not
    lead = r"(?<![\w'])" if words[0][0].isalnum() else ""
    trail = r"(?![\w])" if words[-1][-1].isalnum() else ""
    return lead + body + trail


def _compile(phrases: Iterable[str]) -> re.Pattern[str] | None:
    parts = sorted({_phrase_pattern(p) for p in phrases if p.strip()}, key=len, reverse=True)
    return re.compile("|".join(parts)) if parts else None


class Cues:
    """Which of the configured cue lists a text matches."""

    MANAGER = "manager"
    CALLBACK = "callback"
    SOLVED = "solved"
    NOT_SOLVED = "not_solved"
    SKIP = "skip"
    GOODBYE = "goodbye"
    CONTINUATION = "continuation"
    SME_WORK = ("sme_bug", "sme_escalation", "sme_credit", "sme_coupon", "sme_restriction")

    def __init__(self, settings: LanguageSettings) -> None:
        lists = {
            self.MANAGER: settings.manager_phrases,
            self.CALLBACK: settings.callback_phrases,
            self.SOLVED: settings.solved_phrases,
            self.NOT_SOLVED: settings.not_solved_phrases,
            self.SKIP: settings.skip_phrases,
            self.GOODBYE: settings.goodbye_phrases,
            self.CONTINUATION: settings.continuation_phrases,
            **{label: getattr(settings, f"{label}_phrases") for label in self.SME_WORK},
        }
        self._patterns = {label: pattern for label, phrases in lists.items() if (pattern := _compile(phrases))}

    def is_goodbye(self, text: str) -> bool:
        """A sign-off ("thanks, bye!") with nothing in it that keeps the chat going
        ("thanks, but it still fails", "thanks! one more question"). Words inside a sign-off
        phrase ("I don't need anything else") do not count against it."""
        normal = _normalise(text[:2000])
        goodbye, continuation = self._patterns.get(self.GOODBYE), self._patterns.get(self.CONTINUATION)
        sign_offs = [m.span() for m in goodbye.finditer(normal)] if goodbye else []
        if not sign_offs:
            return False
        keeps_going = [m.span() for m in continuation.finditer(normal)] if continuation else []
        return not any(not any(s <= start and end <= e for s, e in sign_offs) for start, end in keeps_going)

    def find(self, text: str) -> frozenset[str]:
        return self._find(text[:2000])

    @lru_cache(maxsize=4096)  # one message is read for several cues in one turn  # noqa: B019
    def _find(self, text: str) -> frozenset[str]:
        normal = _normalise(text)
        return frozenset(label for label, pattern in self._patterns.items() if pattern.search(normal))
