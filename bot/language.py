"""Reading intent cues in customer text (a manager, a call back, "that worked") with spaCy.

A blank English pipeline (tokenizer only, no model download) feeds a `PhraseMatcher` on lower-cased
tokens, so "Didn't work!" matches the phrase "didn't work" whatever the punctuation or case. The
phrase lists are configuration (`[language]`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from bot.config import LanguageSettings

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.matcher import PhraseMatcher


@lru_cache(maxsize=1)
def blank_english() -> Language:
    """One shared tokenizer-only pipeline. Importing spaCy and loading its language data take
    about a second, so it happens on first use (or in a warm-up thread), not at import."""
    import spacy

    return spacy.blank("en")


def _normalise(text: str) -> str:
    """Lower case with straight apostrophes, so "DIDN’T" splits into tokens like "didn't" does."""
    return text.lower().replace("’", "'").replace("‘", "'")


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
        self._settings = settings
        self._built: tuple[Language, PhraseMatcher] | None = None
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Builds the matcher now (start-up calls this on a thread) rather than on first use."""
        self._pipeline()

    def _pipeline(self) -> tuple[Language, PhraseMatcher]:
        if self._built is None:
            with self._lock:
                if self._built is None:
                    from spacy.matcher import PhraseMatcher

                    nlp = blank_english()
                    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
                    settings = self._settings
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
                    for label, phrases in lists.items():
                        _add(nlp, matcher, label, phrases)
                    self._built = (nlp, matcher)
        return self._built

    def is_goodbye(self, text: str) -> bool:
        """A sign-off ("thanks, bye!") with nothing in it that keeps the chat going
        ("thanks, but it still fails", "thanks! one more question"). Words inside a sign-off
        phrase ("I don't need anything else") do not count against it."""
        nlp, matcher = self._pipeline()
        doc = nlp.make_doc(_normalise(text[:2000]))
        goodbye_id = nlp.vocab.strings[self.GOODBYE]
        continuation_id = nlp.vocab.strings[self.CONTINUATION]
        matches = matcher(doc)
        sign_offs = [(start, end) for match_id, start, end in matches if match_id == goodbye_id]
        if not sign_offs:
            return False
        return not any(
            match_id == continuation_id and not any(s <= start and end <= e for s, e in sign_offs)
            for match_id, start, end in matches
        )

    def find(self, text: str) -> frozenset[str]:
        return self._find(text[:2000])

    @lru_cache(maxsize=4096)  # one message is read for several cues in one turn  # noqa: B019
    def _find(self, text: str) -> frozenset[str]:
        nlp, matcher = self._pipeline()
        doc = nlp.make_doc(_normalise(text))
        return frozenset(nlp.vocab.strings[match_id] for match_id, _, _ in matcher(doc))


def _add(nlp: Language, matcher: PhraseMatcher, label: str, phrases: Iterable[str]) -> None:
    matcher.add(label, [nlp.make_doc(_normalise(p)) for p in phrases])
