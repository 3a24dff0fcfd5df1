"""Reading intent cues in customer text (a manager, a call back, "that worked") with spaCy.

A blank English pipeline (tokenizer only, no model download) feeds a `PhraseMatcher` on lower-cased
tokens, so "Didn't work!" matches the phrase "didn't work" whatever the punctuation or case. The
phrase lists are configuration (`[language]`).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher

from bot.config import LanguageSettings


@lru_cache(maxsize=1)
def blank_english() -> Language:
    """One shared tokenizer-only pipeline: loading spaCy's language data costs about a second."""
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
        self._nlp = blank_english()
        self._matcher = PhraseMatcher(self._nlp.vocab, attr="LOWER")
        self._add(self.MANAGER, settings.manager_phrases)
        self._add(self.CALLBACK, settings.callback_phrases)
        self._add(self.SOLVED, settings.solved_phrases)
        self._add(self.NOT_SOLVED, settings.not_solved_phrases)
        self._add(self.SKIP, settings.skip_phrases)
        self._add(self.GOODBYE, settings.goodbye_phrases)
        self._add(self.CONTINUATION, settings.continuation_phrases)
        for label in self.SME_WORK:
            self._add(label, getattr(settings, f"{label}_phrases"))

    def _add(self, label: str, phrases: Iterable[str]) -> None:
        self._matcher.add(label, [self._nlp.make_doc(_normalise(p)) for p in phrases])

    def is_goodbye(self, text: str) -> bool:
        """A sign-off ("thanks, bye!") with nothing in it that keeps the chat going
        ("thanks, but it still fails", "thanks! one more question"). Words inside a sign-off
        phrase ("I don't need anything else") do not count against it."""
        doc = self._nlp.make_doc(_normalise(text[:2000]))
        goodbye_id = self._nlp.vocab.strings[self.GOODBYE]
        continuation_id = self._nlp.vocab.strings[self.CONTINUATION]
        matches = self._matcher(doc)
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
        doc = self._nlp.make_doc(_normalise(text))
        return frozenset(self._nlp.vocab.strings[match_id] for match_id, _, _ in self._matcher(doc))
