"""Reading customer text: the intake details (SOP 002) and the intent cues (manager, call back, solved)."""

from __future__ import annotations

import pytest

from bot.config import LanguageSettings
from bot.flows.intake import parse_details
from bot.language import Cues

# ----- intake details ------------------------------------------------------------------------------------


def test_a_complete_first_message_yields_every_detail() -> None:
    text = (
        "Hi, my user ID is 48213 and I use Chrome. The email on the account is jo.smith@school.org. "
        'The error says "Access denied". Steps: I clicked Reports, then Export.'
    )

    assert parse_details(text) == {
        "account_id": "user ID 48213",
        "browser": "Chrome",
        "email": "jo.smith@school.org",
        "error": "Access denied",
        "steps": "I clicked Reports, then Export.",
    }


def test_text_without_details_yields_nothing() -> None:
    assert parse_details("Nothing works and I am really annoyed") == {}
    assert parse_details("") == {}


@pytest.mark.parametrize(
    ("text", "account_id"),
    [
        ("My user ID is 48213", "user ID 48213"),
        ("class ID: abc123", "class ID abc123"),
        ("child id XJ-2231 is the one", "child ID XJ-2231"),
        ("Student ID 55-1234", "student ID 55-1234"),
        ("account number 99887766", "account ID 99887766"),
        ("account no. 4521", "account ID 4521"),
        ("child#: C12345", "child ID C12345"),
        ("User id=ab12cd", "user ID ab12cd"),
        ("user_id 700", "user ID 700"),
    ],
)
def test_account_ids_with_digits_are_found(text: str, account_id: str) -> None:
    assert parse_details(text).get("account_id") == account_id


@pytest.mark.parametrize(
    "text",
    [
        "user ID is jonathan",  # a name, not an ID: Tier I works from IDs only (SOP 002)
        "class id: ab",
        "my class ID is science",
        "I lost my ID card",
    ],
)
def test_ids_without_digits_are_not_taken(text: str) -> None:
    assert "account_id" not in parse_details(text)


def test_the_first_id_with_digits_wins() -> None:
    assert parse_details("class ID is science, user ID is u-7781")["account_id"] == "user ID u-7781"


@pytest.mark.parametrize(
    ("text", "browser"),
    [
        ("I use Google Chrome on Windows", "Chrome"),
        ("firefox 121", "Firefox"),
        ("safari on my ipad", "Safari"),
        ("Microsoft Edge", "Edge"),
        ("internet explorer 11, sorry", "Internet Explorer"),
        ("Samsung Internet browser on Android", "Samsung Internet"),
        ("CHROMIUM", "Chromium"),
        ("Brave", "Brave"),
        ("opera gx", "Opera"),
    ],
)
def test_browsers_are_found_and_named_properly(text: str, browser: str) -> None:
    assert parse_details(text).get("browser") == browser


@pytest.mark.parametrize("text", ["my hedge fund", "my chromebook is slow", "the operation failed"])
def test_browser_names_inside_words_are_ignored(text: str) -> None:
    assert "browser" not in parse_details(text)


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("email: Mary.O-Neil+school@district.k12.us please", "Mary.O-Neil+school@district.k12.us"),
        ("reach me at bob@example.com.", "bob@example.com"),
        ("It's jo@school.org, thanks", "jo@school.org"),
    ],
)
def test_emails_are_found(text: str, email: str) -> None:
    assert parse_details(text).get("email") == email


def test_address_without_a_domain_dot_is_not_an_email() -> None:
    assert "email" not in parse_details("contact me at bob@localhost")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('The error says "Access denied"', "Access denied"),
        ("error message is “Your session has expired”", "Your session has expired"),
        ("I get an error: Invalid class code.", "Invalid class code"),
        ("error message: Session expired", "Session expired"),
        ("the page says Something went wrong. Please try again", "Something went wrong"),
        ("It shows 'Code 403' when I try", "Code 403"),
        ("error 'unauthorized'", "unauthorized"),
        ("It says ‘Not enrolled’ next to my name", "Not enrolled"),
    ],
)
def test_quoted_and_unquoted_errors_are_found(text: str, error: str) -> None:
    assert parse_details(text).get("error") == error


@pytest.mark.parametrize("text", ["I am getting a blank page", "the class list is empty", 'my class is called "Room 4"'])
def test_text_without_an_error_message_has_no_error(text: str) -> None:
    assert "error" not in parse_details(text)


@pytest.mark.parametrize(
    "text",
    [
        "I can't open the class. The error says \"Access denied\".",
        "I'm locked out and the error says \"Access denied\"",
        "It doesn't load, it says \"Access denied\"",
    ],
)
def test_contractions_do_not_start_a_quoted_error(text: str) -> None:
    assert parse_details(text).get("error") == "Access denied"


def test_unquoted_error_after_error_says() -> None:
    assert parse_details("It won't load, the error says Access denied.").get("error") == "Access denied"


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("Steps: 1) log in 2) open Reports 3) click Export", "1) log in 2) open Reports 3) click Export"),
        ("Steps to reproduce:\n1. Open class\n2. Click roster", "1. Open class\n2. Click roster"),
        ("steps i took: opened gradebook, chose week 3", "opened gradebook, chose week 3"),
    ],
)
def test_labelled_steps_are_taken_verbatim(text: str, steps: str) -> None:
    assert parse_details(text).get("steps") == steps


def test_narrative_steps_keep_only_the_sentences_that_describe_actions() -> None:
    text = "Hello there. First I went to Settings, then I clicked Billing. After I selected a plan it froze. Help!"

    assert parse_details(text)["steps"] == "First I went to Settings, then I clicked Billing. After I selected a plan it froze."


@pytest.mark.parametrize("text", ["When I open the app it crashes.", "I tried to add a co-teacher"])
def test_single_narrative_step(text: str) -> None:
    assert parse_details(text)["steps"] == text


def test_sentences_without_actions_are_not_steps() -> None:
    assert "steps" not in parse_details("My gradebook is blank. It was fine yesterday.")


# ----- intent cues -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cues() -> Cues:
    return Cues(LanguageSettings())


@pytest.mark.parametrize(
    "text",
    [
        "I want to speak to a manager",
        "Can I talk to your supervisor?",
        "MANAGER PLEASE!!!",
        "Get me someone in charge",
        "please escalate this",
        "I need your boss on this",
        "Is there a team leader I can talk to?",
    ],
)
def test_manager_requests(cues: Cues, text: str) -> None:
    assert Cues.MANAGER in cues.find(text)


@pytest.mark.parametrize("text", ["I manage three classes", "management reports are empty", "the boss fight level"])
def test_not_manager_requests(cues: Cues, text: str) -> None:
    assert Cues.MANAGER not in cues.find(text)


@pytest.mark.parametrize(
    "text",
    [
        "can you call me back?",
        "Could you give me a call",
        "Please phone me tomorrow",
        "Can I call you instead?",
        "what's your phone number?",
        "I'd rather talk on the phone",
        "ring me at 5",
        "I want a callback",
        "CALL ME",
    ],
)
def test_callback_requests(cues: Cues, text: str) -> None:
    assert Cues.CALLBACK in cues.find(text)


@pytest.mark.parametrize("text", ["I called my school yesterday", "I recall it worked before", "my phone app crashes"])
def test_not_callback_requests(cues: Cues, text: str) -> None:
    assert Cues.CALLBACK not in cues.find(text)


@pytest.mark.parametrize(
    "text",
    ["that worked", "Thanks, that worked!", "It worked, thanks", "Yes!", "solved it", "That fixed it", "all good now", "works now :)", "this helped a lot"],
)
def test_solved(cues: Cues, text: str) -> None:
    found = cues.find(text)
    assert Cues.SOLVED in found and Cues.NOT_SOLVED not in found


@pytest.mark.parametrize(
    "text",
    [
        "still doesn't work",
        "Didn't work!",
        "didn't help",
        "No.",
        "not really",
        "It's still not loading",
        "I need a human",
        "Can I talk to a person?",
        "it does not work",
        "not working at all",
        "still need help",
    ],
)
def test_not_solved(cues: Cues, text: str) -> None:
    found = cues.find(text)
    assert Cues.NOT_SOLVED in found and Cues.SOLVED not in found


@pytest.mark.parametrize("text", ["Yes, but it didn't work", "yes I read it but it's not working", "that helped a bit but it's still not fixed"])
def test_mixed_answers_carry_the_not_solved_cue(cues: Cues, text: str) -> None:
    """The article flow resolves only on SOLVED without NOT_SOLVED, so a 'yes, but...' stays open."""
    assert Cues.NOT_SOLVED in cues.find(text)


def test_thanks_but_it_still_fails_is_not_solved(cues: Cues) -> None:
    found = cues.find("thanks, but it still fails")
    assert Cues.NOT_SOLVED in found and Cues.SOLVED not in found


@pytest.mark.parametrize("text", ["DIDN'T WORK!!!", "YES BUT IT DOESN'T WORK"])
def test_shouted_contractions_are_matched(cues: Cues, text: str) -> None:
    assert Cues.NOT_SOLVED in cues.find(text)


@pytest.mark.parametrize("text", ["Yes, but it didn’t work", "It still doesn’t work"])
def test_typographic_apostrophes_are_matched(cues: Cues, text: str) -> None:
    assert Cues.NOT_SOLVED in cues.find(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("skip", True), ("I don't know", True), ("not sure", True), ("N/A", True), ("None", True), ("Chrome", False)],
)
def test_skip(cues: Cues, text: str, expected: bool) -> None:
    assert (Cues.SKIP in cues.find(text)) is expected


@pytest.mark.parametrize("text", ["snow day", "yesterday it was fine", "we have agents", "personal account", "I know"])
def test_phrases_match_whole_words_only(cues: Cues, text: str) -> None:
    assert cues.find(text) == frozenset()


def test_several_cues_at_once(cues: Cues) -> None:
    assert cues.find("that worked, but now I need to talk to a manager") >= {Cues.SOLVED, Cues.MANAGER}


def test_phrase_lists_are_configurable() -> None:
    custom = Cues(LanguageSettings(manager_phrases=("head honcho",), solved_phrases=("sorted",)))

    assert custom.find("get me the head honcho") == {Cues.MANAGER}
    assert custom.find("I want a manager") == frozenset()
    assert Cues.SOLVED in custom.find("all sorted, cheers")


def test_very_long_text_is_read_without_error(cues: Cues) -> None:
    assert Cues.MANAGER in cues.find("I need a manager " + "blah " * 5000)
