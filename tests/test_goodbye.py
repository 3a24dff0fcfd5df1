"""Cues.is_goodbye: real sign-offs count; anything that keeps the conversation going does not.

The idle-time SOP closes a chat at once (closing spiel, no prompt) when the other side "signalled
their goodbyes, or thank you" and went quiet, so a false positive here ends a chat on a customer who
still needs help, and a false negative makes us prompt someone who already said goodbye.
The phrase lists are configuration: bot/config.py LanguageSettings.goodbye_phrases / continuation_phrases.
"""

from __future__ import annotations

import pytest

from bot.config import LanguageSettings
from bot.language import Cues


@pytest.fixture(scope="module")
def cues() -> Cues:
    return Cues(LanguageSettings())


SIGN_OFFS = [
    "Thanks!",
    "thank you so much, bye",
    "ok thx",
    "cheers",
    "Have a great day!",
    "that's all, thanks",
    "all sorted, ty",
    "Thank you!!! 🙏",
    "bye bye",
    "perfect, thanks a lot",
    "Thanks, that's all I needed!",
    "thanks so much, bye!",
    "Goodbye",
    "Great, that worked. Thanks!",
    "THANK YOU",
    "thank u",
    "Much appreciated, take care",
    "Thanks, I'm all set",
    "ok bye",
    "Awesome, appreciate it!",
    "That's everything, thank you",
    "Thanks for your help, have a nice day",
    "TY!",
    "cheers mate, talk soon",
    "Brilliant, thanks heaps",
    "thx, bye",
    "Thank you, that fixed it.",
    "Good bye and thanks",
    "That is all, thank you kindly",
    "Thanks, have a good day :)",
    "No, that's all. Thanks!",
    "nope that's it, thank you",
    "thanks!!",
    "Thank you 😊",
    "thanks a bunch!",
    "k thanks bye",
    "Thank’s so much, bye",  # curly apostrophe
    "THANKS, BYE",
    "Thanks, I don't need anything else",
    "Not right now, thanks!",
    "Thank you, I don't have any other questions",
    "thankyou",
]

KEEPS_GOING = [
    "thanks, but it still fails",
    "thanks! one more question",
    "thanks, I'll try that",
    "thank you for nothing, it doesn't work",
    "thanks?",
    "Thanks, can you also check my invoice",
    "no it didn't help",
    "wait",
    "hold on, thanks",
    "thanks, what about my refund",
    "Thanks, however the page is still blank",
    "thanks, quick question about exports",
    "thanks, another question: how do I export?",
    "thanks, let me check",
    "thanks, I will try that now",
    "Thanks. Also, the CSV is empty",
    "ok thanks, that didn't work",
    "cheers, it isn't loading though",
    "Thanks, I can't log in",
    "thanks, it is not working",
    "Thanks. Wait, the grades are gone",
    "How about the other class? thanks",
    "Thanks, hold on a sec",
    "thanks but no",
    "Thank you, one more thing",
    "thanks, i'll try it tomorrow and let you know",
    "Thanks, still waiting for the email",
    "my export is broken",
    "hello",
    "",
    "thanks, it doesnt work",
    "ty, it wont load",
    "thanks, the export is broken again",
    # "bye the way" is a typo for "by the way": what follows is a new problem, not a sign-off.
    "bye the way the export is broken",
    "thank you, is there a way to export to PDF",
]


@pytest.mark.parametrize("text", SIGN_OFFS)
def test_sign_offs_are_goodbyes(cues: Cues, text: str) -> None:
    assert cues.is_goodbye(text), f"{text!r} should count as a goodbye"


@pytest.mark.parametrize("text", KEEPS_GOING)
def test_messages_that_keep_the_chat_going_are_not_goodbyes(cues: Cues, text: str) -> None:
    assert not cues.is_goodbye(text), f"{text!r} should not count as a goodbye"


def test_lists_are_big_enough() -> None:
    """The issue asks for at least 25 sign-offs and 20 non-goodbyes that hold today."""
    passing_yes = [p for p in SIGN_OFFS if isinstance(p, str)]
    passing_no = [p for p in KEEPS_GOING if isinstance(p, str)]
    assert len(passing_yes) >= 25 and len(passing_no) >= 20


def test_goodbye_phrases_are_configuration() -> None:
    """A deployment can add its own sign-offs (and continuations) without code changes."""
    settings = LanguageSettings(goodbye_phrases=("ta-ra",), continuation_phrases=("but",))
    cues = Cues(settings)
    assert cues.is_goodbye("ta-ra then")
    assert not cues.is_goodbye("ta-ra but the page is blank")
    assert not cues.is_goodbye("thanks")  # not in this deployment's list
