"""Reading intent cues in customer text (a manager, a call back, "that worked", a sign-off).

Each configured phrase list (`[language]`) is matched as whole words, case-insensitively, with
typographic apostrophes read as straight ones. Text and phrases are split into the same tokens
(words, contraction parts as spaCy splits them: "didn't" → "did" + "n't", and single punctuation
marks), and a phrase matches where its tokens appear in a row. One pass over a message's tokens
with a dictionary of first tokens finds every list's phrases at once: this replaced one regular
expression per list (an alternation of every phrase, tried at every character), which took about
0.4 ms per message, the largest single cost of a bot turn; before that, a spaCy PhraseMatcher
grew spaCy's vocabulary with every new word customers typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from bot.config import LanguageSettings

# "n't" first, then a word that ends before one ("did" of "didn't"), a word, a clitic ("'s",
# "'ll") or any other single non-space character.
_TOKEN = re.compile(r"n't|\w+(?=n't)|\w+|'\w+|[^\w\s]")
_MAX_CHARS = 2000
_CLAUSE_ENDS = frozenset({".", "!", "?", ";", ",", "but", "so"})

Match = tuple[str, int, int]  # cue label, first token, one past the last token


def _tokens(text: str) -> tuple[str, ...]:
    """Lower case, straight apostrophes, split as described above."""
    return tuple(_TOKEN.findall(text.lower().replace("’", "'").replace("‘", "'")))


class Cues:
    """Which of the configured cue lists a text matches."""

    MANAGER = "manager"
    CALLBACK = "callback"
    SOLVED = "solved"
    NOT_SOLVED = "not_solved"
    SKIP = "skip"
    GOODBYE = "goodbye"
    CONTINUATION = "continuation"
    CALLBACK_BLOCKER = "callback_blocker"
    SME_WORK = ("sme_bug", "sme_escalation", "sme_credit", "sme_coupon", "sme_restriction")

    def __init__(self, settings: LanguageSettings) -> None:
        lists: dict[str, Iterable[str]] = {
            self.MANAGER: settings.manager_phrases,
            self.CALLBACK: settings.callback_phrases,
            self.SOLVED: settings.solved_phrases,
            self.NOT_SOLVED: settings.not_solved_phrases,
            self.SKIP: settings.skip_phrases,
            self.GOODBYE: settings.goodbye_phrases,
            self.CONTINUATION: settings.continuation_phrases,
            self.CALLBACK_BLOCKER: settings.callback_blockers,
            **{label: getattr(settings, f"{label}_phrases") for label in self.SME_WORK},
        }
        # first token → (label, the phrase's tokens), so a message is read once for every list
        self._by_first: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for label, phrases in lists.items():
            for phrase in {_tokens(p) for p in phrases} - {()}:
                self._by_first.setdefault(phrase[0], []).append((label, phrase))

    def is_goodbye(self, text: str) -> bool:
        """A sign-off ("thanks, bye!") with nothing in it that keeps the chat going
        ("thanks, but it still fails", "thanks! one more question"). Words inside a sign-off
        phrase ("I don't need anything else") do not count against it."""
        found = self._matches(text[:_MAX_CHARS])
        sign_offs = [(start, end) for label, start, end in found if label == self.GOODBYE]
        if not sign_offs:
            return False
        keeps_going = [(start, end) for label, start, end in found if label == self.CONTINUATION]
        return not any(not any(s <= start and end <= e for s, e in sign_offs) for start, end in keeps_going)

    def asks_for_callback(self, text: str) -> bool:
        """A call-back phrase that really asks for one: not negated, not in the past, not
        reported ("Please don't call me", "I tried your phone number", "she said you'd call me")
        — a blocker word earlier in the same clause rules the phrase out (SOP 001: a phone call
        only when the customer specifically asks)."""
        text = text[:_MAX_CHARS]
        tokens = _tokens(text)
        found = self._matches(text)
        blockers = [start for label, start, _ in found if label == self.CALLBACK_BLOCKER]
        for label, start, _ in found:
            if label != self.CALLBACK:
                continue
            clause_start = max((i + 1 for i in range(start) if tokens[i] in _CLAUSE_ENDS), default=0)
            if not any(clause_start <= b < start for b in blockers):
                return True
        return False

    def find(self, text: str) -> frozenset[str]:
        return frozenset(label for label, _, _ in self._matches(text[:_MAX_CHARS]))

    @lru_cache(maxsize=4096)  # one message is read for several cues in one turn  # noqa: B019
    def _matches(self, text: str) -> tuple[Match, ...]:
        tokens = _tokens(text)
        found: list[Match] = []
        for i, token in enumerate(tokens):
            for label, phrase in self._by_first.get(token, ()):
                end = i + len(phrase)
                if tokens[i:end] == phrase:
                    found.append((label, i, end))
        return tuple(found)
