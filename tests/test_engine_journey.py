"""The customer's journey through the SOPs, scripted as conversations on a real desk.

Every test reads like a chat: the customer says something, the bot answers, time moves on the
fake clock (`desk.advance`) and timers fire. The desk starts on Monday 09:00 in Chicago with
nobody online; tests bring agents online when they need a live person.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.domain import AgentStatus, CaseState, SurveyStage
from bot.events import StaffPresence
from bot.flows.queue import describe_wait
from bot.hours import BusinessCalendar
from tests.harness import DEFAULT_ARTICLES, Desk, KeywordFinder, desk_settings, open_desk

CHICAGO = ZoneInfo("America/Chicago")
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

# A first message with all five intake details and no article keyword (password/export/csv).
DETAILED = (
    "My gradebook page is blank. My user ID is 48213, I use Chrome, my email is jo@example.com. "
    'The error says "Page failed to load". Steps: I clicked Gradebook and then Week 3.'
)


def chicago(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=CHICAGO).timestamp()


def detail_lines(desk: Desk, *fields: str) -> str:
    return "\n".join(f"• {getattr(desk.settings.spiels, 'detail_' + f)}" for f in fields)


def ask_details(desk: Desk, *fields: str) -> str:
    return desk.settings.spiels.ask_details.format(missing=detail_lines(desk, *fields))


def opened(desk: Desk, number: str) -> str:
    return desk.settings.spiels.case_opened.format(case=number)


def queued(desk: Desk, position: int, wait: str) -> str:
    return desk.settings.spiels.queued.format(position=position, wait=wait)


async def texts(desk: Desk, conversation_id: str) -> list[str]:
    return [e.text for e in await desk.store.transcript(conversation_id)]


async def bot_buttons(desk: Desk, conversation_id: str) -> list[str]:
    """The button labels on the latest bot message that has any."""
    for entry in reversed(await desk.store.transcript(conversation_id)):
        if entry.buttons:
            return [b["label"] for b in entry.buttons]
    return []


async def queue_customer(desk: Desk, text: str = DETAILED) -> tuple[str, list[str]]:
    """A new customer whose detailed first message goes straight to the queue (or offline path)."""
    conversation = await desk.customer()
    return conversation, await desk.say(conversation, text)


async def offered_customer(desk: Desk, text: str = "I forgot my password") -> str:
    """A customer who has been offered the password article (intake asked once, then skipped)."""
    conversation = await desk.customer()
    await desk.say(conversation, text)
    replies = await desk.say(conversation, "skip")
    assert replies and replies[0].startswith("These help articles may answer your question:")
    return conversation


async def delivered_notices(desk: Desk, kind: str) -> list[dict[str, Any]]:
    await desk.runtime.deliver_outbox()
    return desk.notices(kind)


@pytest.fixture
async def make_desk(tmp_path: Path) -> AsyncIterator[Any]:
    """Opens desks with custom settings or finders; closes them all at the end."""
    opened_desks: list[Desk] = []

    async def make(settings: Any = None, finder: KeywordFinder | None = None, name: str = "d") -> Desk:
        folder = tmp_path / f"{name}{len(opened_desks)}"
        folder.mkdir()
        desk = await open_desk(folder, settings, finder)
        opened_desks.append(desk)
        return desk

    yield make
    for desk in opened_desks:
        await desk.store.close()


# ----- greeting and case numbers ------------------------------------------------------------------


async def test_greeting_on_start(desk: Desk) -> None:
    conversation = await desk.customer()

    assert await desk.lines(conversation) == [f"bot: {desk.settings.spiels.greeting}"]
    assert (await desk.store.conversation(conversation)).case_id is None  # type: ignore[union-attr]


async def test_first_message_opens_case_and_tells_the_number(desk: Desk) -> None:
    conversation = await desk.customer()

    replies = await desk.say(conversation, "The gradebook won't load")

    assert replies[0] == "I've opened case CS-000001 for this. Please keep the number handy for any follow-up."
    case = await desk.case_of(conversation)
    assert case.id == 1 and case.number == "CS-000001"
    assert case.problem == "The gradebook won't load"
    assert case.state is CaseState.NEW


async def test_each_customer_gets_the_next_case_number(desk: Desk) -> None:
    first, _ = await queue_customer(desk)
    second, replies = await queue_customer(desk)

    assert replies[0] == opened(desk, "CS-000002")
    assert (await desk.case_of(first)).number == "CS-000001"
    assert (await desk.case_of(second)).number == "CS-000002"


# ----- intake (SOP 002) ---------------------------------------------------------------------------


async def test_intake_asks_for_every_detail_when_none_given(desk: Desk) -> None:
    conversation = await desk.customer()

    replies = await desk.say(conversation, "The gradebook won't load")

    assert replies == [opened(desk, "CS-000001"), ask_details(desk, "account_id", "browser", "email", "error", "steps")]


async def test_intake_asks_nothing_when_every_detail_is_given(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await desk.customer()

    replies = await desk.say(conversation, DETAILED)

    assert replies == [opened(desk, "CS-000001"), queued(desk, 1, "1 minute")]
    case = await desk.case_of(conversation)
    assert case.intake_asks == 0
    assert case.details == {
        "account_id": "user ID 48213",
        "browser": "Chrome",
        "email": "jo@example.com",
        "error": "Page failed to load",
        "steps": "I clicked Gradebook and then Week 3.",
    }


async def test_intake_asks_only_for_the_missing_details(desk: Desk) -> None:
    conversation = await desk.customer()

    replies = await desk.say(conversation, "Class ID 7781 shows nothing in Firefox, my email is pat@school.org")

    assert replies == [opened(desk, "CS-000001"), ask_details(desk, "error", "steps")]
    assert "user ID" not in replies[1] and "browser" not in replies[1] and "email address" not in replies[1]


async def test_intake_asks_once_then_proceeds_even_if_details_still_missing(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await desk.customer()
    await desk.say(conversation, "The gradebook won't load")

    replies = await desk.say(conversation, "I'm on Safari")

    assert replies == [queued(desk, 1, "1 minute")]
    case = await desk.case_of(conversation)
    assert case.intake_asks == 1
    assert case.details == {"browser": "Safari"}
    assert case.state is CaseState.QUEUED


async def test_intake_second_answer_fills_details_without_replacing_the_problem(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await desk.customer()
    await desk.say(conversation, "The gradebook won't load")

    await desk.say(conversation, "user ID 55120, Edge, sam@example.org")

    case = await desk.case_of(conversation)
    assert case.problem == "The gradebook won't load"
    assert case.details == {"account_id": "user ID 55120", "browser": "Edge", "email": "sam@example.org"}


async def test_skip_moves_on_without_another_question(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await desk.customer()
    await desk.say(conversation, "The gradebook won't load")

    replies = await desk.say(conversation, "skip")

    assert replies == [queued(desk, 1, "1 minute")]
    case = await desk.case_of(conversation)
    assert case.problem == "The gradebook won't load"
    assert case.details == {}


# ----- help articles (SOP 000) ---------------------------------------------------------------------


async def test_single_article_offer_has_this_solved_it_and_still_need_help(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "I forgot my password")

    replies = await desk.say(conversation, "skip")

    article = DEFAULT_ARTICLES["password"]
    line = desk.settings.spiels.offer_article_line.format(title=article.title, summary=article.summary, url=article.url)
    assert replies == [desk.settings.spiels.offer_articles.format(articles=line)]
    assert await bot_buttons(desk, conversation) == ["This solved it", "I still need help"]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.SELF_SERVICE
    assert case.offered_articles == ["reset-password"]
    offers = await desk.store.records("offers", case.id)
    assert [(o["event"], o["article_ids"]) for o in offers] == [("offered", '["reset-password"]')]


async def test_several_articles_get_numbered_solved_buttons(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "my password reset email and the csv export both fail")
    replies = await desk.say(conversation, "skip")

    assert len(replies) == 1
    for article in DEFAULT_ARTICLES.values():
        assert article.title in replies[0] and article.url in replies[0]
    assert await bot_buttons(desk, conversation) == ["#1 solved it", "#2 solved it", "#3 solved it", "I still need help"]


async def test_article_offer_is_capped_by_max_offers(make_desk: Any) -> None:
    desk = await make_desk(desk_settings(knowledge={"max_offers": 2}))
    conversation = await desk.customer()
    await desk.say(conversation, "my password reset email and the csv export both fail")
    await desk.say(conversation, "skip")

    assert await bot_buttons(desk, conversation) == ["#1 solved it", "#2 solved it", "I still need help"]
    assert len((await desk.case_of(conversation)).offered_articles) == 2


async def test_article_search_uses_problem_and_error_message(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "I can't get in")

    await desk.say(conversation, 'The error says "Wrong password"')

    assert desk.finder.queries[-1] == "I can't get in Wrong password"
    assert (await desk.case_of(conversation)).offered_articles == ["reset-password"]


async def test_no_article_found_goes_straight_to_the_queue(desk: Desk) -> None:
    await desk.agent_online("ana")

    conversation, replies = await queue_customer(desk)

    assert replies == [opened(desk, "CS-000001"), queued(desk, 1, "1 minute")]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.QUEUED and case.offered_articles == []
    assert not any(b for e in await desk.store.transcript(conversation) for b in e.buttons)
    offers = await desk.store.records("offers", case.id)
    assert [(o["event"], o["article_ids"]) for o in offers] == [("offered", "[]")]


async def test_article_check_comes_at_exactly_two_minutes(desk: Desk) -> None:
    conversation = await offered_customer(desk)

    await desk.advance(119)
    assert desk.settings.spiels.article_check not in await texts(desk, conversation)

    await desk.advance(1)
    assert (await texts(desk, conversation))[-1] == "Did the article answer your question?"
    assert await bot_buttons(desk, conversation) == ["Yes, it helped", "No, I still need help"]


async def test_article_check_is_asked_only_once(desk: Desk) -> None:
    conversation = await offered_customer(desk)

    await desk.advance(2 * MINUTE)
    await desk.advance(2 * MINUTE)
    await desk.advance(HOUR)

    assert (await texts(desk, conversation)).count(desk.settings.spiels.article_check) == 1
    assert (await desk.case_of(conversation)).article_checked is True


async def test_article_check_not_asked_when_the_offer_was_answered(desk: Desk) -> None:
    conversation = await offered_customer(desk)
    await desk.advance(MINUTE)
    await desk.press(conversation, "This solved it")

    await desk.advance(5 * MINUTE)

    assert desk.settings.spiels.article_check not in await texts(desk, conversation)


async def test_this_solved_it_resolves_self_service_and_asks_the_survey(desk: Desk) -> None:
    conversation = await offered_customer(desk)

    replies = await desk.press(conversation, "This solved it")

    assert replies == [
        "Great, I'm glad that sorted it. I've marked case CS-000001 resolved.",
        "How would you rate the help you got with case CS-000001? (1 = poor, 5 = excellent)",
    ]
    assert await bot_buttons(desk, conversation) == ["1", "2", "3", "4", "5"]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.RESOLVED and case.resolution == "self_service"
    assert case.survey is SurveyStage.ASKED
    offers = await desk.store.records("offers", case.id)
    assert [(o["event"], o["article_ids"]) for o in offers] == [
        ("offered", '["reset-password"]'),
        ("helped", '["reset-password"]'),
    ]
    assert (await desk.lines(conversation))[-3] == "customer: This solved it"


async def test_numbered_solved_button_records_which_article_helped(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "my password reset email and the csv export both fail")
    await desk.say(conversation, "skip")

    await desk.press(conversation, "#2 solved it")

    case = await desk.case_of(conversation)
    second = case.offered_articles[1]
    offers = await desk.store.records("offers", case.id)
    assert (offers[-1]["event"], offers[-1]["article_ids"]) == ("helped", f'["{second}"]')
    assert case.state is CaseState.RESOLVED


async def test_article_check_yes_resolves(desk: Desk) -> None:
    conversation = await offered_customer(desk)
    await desk.advance(2 * MINUTE)

    replies = await desk.press(conversation, "Yes, it helped")

    assert replies[0] == desk.settings.spiels.self_service_resolved.format(case="CS-000001")
    assert (await desk.case_of(conversation)).state is CaseState.RESOLVED


async def test_article_check_no_routes_to_a_person(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await offered_customer(desk)
    await desk.advance(2 * MINUTE)

    replies = await desk.press(conversation, "No, I still need help")

    assert replies == [queued(desk, 1, "1 minute")]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.QUEUED
    assert [o["event"] for o in await desk.store.records("offers", case.id)] == ["offered", "not_helped"]


async def test_still_need_help_queues_with_position_and_wait(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await offered_customer(desk)

    replies = await desk.press(conversation, "I still need help")

    assert replies == ["I'm connecting you with a support advisor. You're number 1 in the queue; the wait is about 1 minute."]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.QUEUED and case.told_position == 1
    assert [o["event"] for o in await desk.store.records("offers", case.id)] == ["offered", "not_helped"]
    # the check is cancelled: nobody asks "did it help?" of a customer already in the queue
    await desk.advance(5 * MINUTE)
    assert desk.settings.spiels.article_check not in await texts(desk, conversation)


async def test_free_text_that_worked_during_offer_resolves(desk: Desk) -> None:
    conversation = await offered_customer(desk)

    replies = await desk.say(conversation, "Thanks, that worked!")

    assert replies[0] == desk.settings.spiels.self_service_resolved.format(case="CS-000001")
    case = await desk.case_of(conversation)
    assert case.state is CaseState.RESOLVED and case.resolution == "self_service"
    offers = await desk.store.records("offers", case.id)
    assert (offers[-1]["event"], offers[-1]["article_ids"]) == ("helped", '["reset-password"]')


async def test_free_text_still_doesnt_work_during_offer_queues(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await offered_customer(desk)

    replies = await desk.say(conversation, "I tried it but it still doesn't work")

    assert replies == [queued(desk, 1, "1 minute")]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.QUEUED
    assert [o["event"] for o in await desk.store.records("offers", case.id)] == ["offered", "not_helped"]


async def test_yes_but_not_working_counts_as_not_solved(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await offered_customer(desk)

    await desk.say(conversation, "yes I read it but it's not working")

    assert (await desk.case_of(conversation)).state is CaseState.QUEUED


@pytest.mark.parametrize("answer", ["Yes, but it didn’t work", "YES BUT IT DOESN'T WORK"])
async def test_yes_but_it_didnt_work_is_never_taken_as_solved(desk: Desk, answer: str) -> None:
    await desk.agent_online("ana")
    conversation = await offered_customer(desk)

    await desk.say(conversation, answer)

    assert (await desk.case_of(conversation)).state is CaseState.QUEUED


async def test_agent_command_during_offer_records_the_offer_outcome(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await offered_customer(desk)

    await desk.say(conversation, "/agent")

    case = await desk.case_of(conversation)
    assert case.state is CaseState.QUEUED
    events = [o["event"] for o in await desk.store.records("offers", case.id)]
    assert len(events) == 2 and events[1] in ("not_helped", "no_answer")


# ----- queue: position, wait, alert (SOP 001) -------------------------------------------------------


def test_wait_is_never_zero_minutes() -> None:
    assert describe_wait(0) == "1 minute"
    assert describe_wait(1) == "1 minute"
    assert describe_wait(60) == "1 minute"
    assert describe_wait(61) == "2 minutes"
    assert describe_wait(520) == "9 minutes"
    assert describe_wait(89 * MINUTE) == "89 minutes"
    assert describe_wait(2 * HOUR) == "2 hours"


async def test_queue_position_updates_when_the_first_customer_is_accepted(desk: Desk) -> None:
    await desk.agent_online("ana")
    first, _ = await queue_customer(desk)
    second, replies = await queue_customer(desk)
    assert replies[-1] == queued(desk, 2, "1 minute")

    await desk.staff("ana", "accept", 1)

    assert (await texts(desk, second))[-1] == "You're now number 1 in the queue; the wait is about 1 minute."
    assert (await texts(desk, first))[-1] == "Ana has joined the chat and will help you from here."
    assert (await desk.case_of(second)).told_position == 1


async def test_queue_position_not_repeated_when_it_did_not_change(desk: Desk) -> None:
    await desk.agent_online("ana")
    await queue_customer(desk)
    second, _ = await queue_customer(desk)
    third, _ = await queue_customer(desk)

    await desk.staff("ana", "accept", 3)  # the last in line is taken first: #1 and #2 keep their places

    assert not any("You're now number" in t for t in await texts(desk, second))
    assert (await desk.case_of(second)).told_position == 2
    assert (await texts(desk, third))[-1] == desk.settings.spiels.agent_joined.format(agent="Ana")


async def test_message_while_queued_repeats_position_and_wait(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation, _ = await queue_customer(desk)

    replies = await desk.say(conversation, "Also it happens on my second laptop")

    assert replies == ["Thanks, I've added that to case CS-000001. You're number 1 in the queue; about 1 minute to go."]


async def test_wait_estimate_follows_recent_handle_times_and_agents_available(desk: Desk) -> None:
    await desk.agent_online("ben")  # one agent, one slot

    await queue_customer(desk)
    await desk.staff("ben", "accept", 1)
    # Ben is busy: the next chat waits for the usual handle time (8 minutes default) + accept time
    c2, replies = await queue_customer(desk)
    assert replies[-1] == queued(desk, 1, "9 minutes")

    # Ben's chats have been quick: two minutes each
    await desk.advance(2 * MINUTE)
    await desk.staff("ben", "resolve", 1)
    await desk.staff("ben", "accept", 2)
    _, replies = await queue_customer(desk)
    assert replies[-1] == queued(desk, 1, "3 minutes")  # 40 s + 120 s

    # then one long chat of 30 minutes: the average grows to 16 minutes
    await desk.advance(30 * MINUTE)
    await desk.staff("ben", "resolve", 2)
    await desk.staff("ben", "accept", 3)
    _, replies = await queue_customer(desk)
    assert replies[-1] == queued(desk, 1, "17 minutes")  # 40 s + (120 + 1800) / 2 s

    # a second agent with free slots makes the wait short again
    await desk.agent_online("ana")
    _, replies = await queue_customer(desk)
    assert replies[-1] == queued(desk, 2, "1 minute")


async def test_queue_alert_at_two_minutes_notifies_available_agents_and_manager(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.agent_online("ben")
    await queue_customer(desk)

    await desk.advance(119)
    assert await delivered_notices(desk, "sla_alert") == []

    await desk.advance(1)
    alerts = await delivered_notices(desk, "sla_alert")
    assert len(alerts) == 1
    assert set(alerts[0]["recipients"]) == {"ana", "ben", "maya"}
    assert alerts[0]["text"] == "CS-000001 has waited 2 minutes without an advisor. Please accept it."
    assert alerts[0]["case_id"] == 1
    assert (await desk.store.case(1)).queue_alerted is True  # type: ignore[union-attr]


async def test_queue_alert_leaves_out_away_agents_and_tier2(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.agent_online("ben", AgentStatus.AWAY)
    await desk.agent_online("tara")
    await queue_customer(desk)

    await desk.advance(2 * MINUTE)

    alerts = await delivered_notices(desk, "sla_alert")
    assert [set(a["recipients"]) for a in alerts] == [{"ana", "maya"}]


async def test_queue_alert_is_sent_only_once(desk: Desk) -> None:
    await desk.agent_online("ana")
    await queue_customer(desk)

    await desk.advance(2 * MINUTE)
    await desk.advance(2 * MINUTE)
    await desk.advance(HOUR)

    assert len(await delivered_notices(desk, "sla_alert")) == 1


async def test_no_queue_alert_when_accepted_before_two_minutes(desk: Desk) -> None:
    await desk.agent_online("ana")
    await queue_customer(desk)
    await desk.advance(90)
    await desk.staff("ana", "accept", 1)

    await desk.advance(10 * MINUTE)

    assert await delivered_notices(desk, "sla_alert") == []


async def test_new_queued_chat_is_announced_to_agents_with_free_slots(desk: Desk) -> None:
    await desk.agent_online("ana")

    await queue_customer(desk)

    notices = await delivered_notices(desk, "queue_new")
    assert [(n["recipients"], n["text"]) for n in notices] == [(["ana"], f"New chat waiting: CS-000001 ({DETAILED[:120]}…)")]


# ----- nobody to chat with: the offline path (SOPs 000, 001) ----------------------------------------


async def test_offline_path_when_nobody_is_online(desk: Desk) -> None:
    conversation, replies = await queue_customer(desk)

    reply_by = BusinessCalendar(desk.settings.business_hours).add_business_days(desk.clock.now(), 1.0)
    assert replies == [
        opened(desk, "CS-000001"),
        "Our advisors are not available right now, so I've created ticket TK-000001 on case CS-000001 with "
        "what you've told me. We'll reply by email by Tuesday 24 November, 9:00 AM CST. Anything else you'd "
        "like to add? Just write it here and I'll attach it to the case.",
    ]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.TICKETED and case.ticket == "TK-000001"
    tickets = await desk.store.records("tickets", case.id)
    assert len(tickets) == 1
    assert tickets[0]["id"] == "TK-000001" and tickets[0]["kind"] == "offline_message"
    assert tickets[0]["due_at"] == pytest.approx(reply_by)
    assert tickets[0]["due_at"] == pytest.approx(desk.clock.now() + DAY)  # Monday 09:00 → Tuesday 09:00
    assert tickets[0]["text"].startswith("My gradebook page is blank.")
    assert "email: jo@example.com" in tickets[0]["text"] and "browser: Chrome" in tickets[0]["text"]
    notices = await delivered_notices(desk, "ticket")
    assert [(n["recipients"], n["text"]) for n in notices] == [
        (["maya"], "Ticket TK-000001 opened on CS-000001 (no advisor was available).")
    ]


async def test_offline_path_when_every_agent_is_away(desk: Desk) -> None:
    await desk.agent_online("ana", AgentStatus.AWAY)
    await desk.agent_online("ben", AgentStatus.AWAY)

    conversation, replies = await queue_customer(desk)

    assert replies[-1].startswith("Our advisors are not available right now, so I've created ticket TK-000001")
    assert (await desk.case_of(conversation)).state is CaseState.TICKETED
    assert await delivered_notices(desk, "queue_new") == []


async def test_offline_path_after_business_hours_even_with_agents_online(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.advance(10 * HOUR)  # Monday 19:00 in Chicago: chat closes at 19:00

    conversation, replies = await queue_customer(desk)

    assert "We'll reply by email by Tuesday 24 November, 7:00 PM CST." in replies[-1]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.TICKETED
    tickets = await desk.store.records("tickets", case.id)
    assert tickets[0]["due_at"] == pytest.approx(chicago(2026, 11, 24, 19))


async def test_one_minute_before_closing_the_chat_is_still_queued(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.advance(10 * HOUR - MINUTE)  # 18:59

    conversation, _ = await queue_customer(desk)

    assert (await desk.case_of(conversation)).state is CaseState.QUEUED


async def test_offline_path_before_configured_opening_time(make_desk: Any) -> None:
    desk = await make_desk(desk_settings(business_hours={"open": "10:00", "close": "18:00"}))
    await desk.agent_online("ana")  # it is 09:00 in Chicago

    conversation, replies = await queue_customer(desk)

    assert (await desk.case_of(conversation)).state is CaseState.TICKETED
    assert "ticket TK-000001" in replies[-1]


async def test_offline_path_on_a_closed_day(make_desk: Any) -> None:
    desk = await make_desk(desk_settings(business_hours={"days": ["tue", "wed", "thu", "fri"]}))
    await desk.agent_online("ana")  # Monday

    conversation, _ = await queue_customer(desk)

    assert (await desk.case_of(conversation)).state is CaseState.TICKETED


async def test_offline_asks_for_an_email_when_none_given_and_attaches_follow_ups(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "The gradebook won't load")

    replies = await desk.say(conversation, "skip")

    assert replies[-1].endswith(" What email address should we reply to?")
    assert (await desk.case_of(conversation)).state is CaseState.TICKETED

    replies = await desk.say(conversation, "Sure, it's lee@example.net. It also fails on Firefox.")

    assert replies == ["Thanks, I've added that to case CS-000001. We'll reply by email by Tuesday 24 November, 9:00 AM CST."]
    case = await desk.case_of(conversation)
    assert case.details["email"] == "lee@example.net" and case.details["browser"] == "Firefox"
    follow_up = [e for e in await desk.store.transcript(conversation) if e.sender == "customer"][-1]
    assert follow_up.text == "Sure, it's lee@example.net. It also fails on Firefox." and follow_up.case_id == case.id
    assert case.state is CaseState.TICKETED


async def test_offline_ticket_numbers_increase(desk: Desk) -> None:
    await queue_customer(desk)
    second, replies = await queue_customer(desk)

    assert "ticket TK-000002 on case CS-000002" in replies[-1]
    assert (await desk.case_of(second)).ticket == "TK-000002"


async def test_agent_available_but_offline_means_offline_path(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.runtime.handle(StaffPresence("ana", False))  # her console disconnected; status still available

    conversation, _ = await queue_customer(desk)

    assert (await desk.case_of(conversation)).state is CaseState.TICKETED


# ----- call backs (SOPs 001, 004) -------------------------------------------------------------------


async def test_callback_is_booked_when_asked_with_due_date_one_and_a_half_business_days_out(desk: Desk) -> None:
    conversation = await desk.customer()

    replies = await desk.say(conversation, "can you call me back?")

    assert replies == [
        opened(desk, "CS-000001"),
        "I've requested a call back for case CS-000001. Calls are returned in the order received, within 1.5 "
        "business days (by Tuesday 24 November, 3:00 PM CST). Please reply with the best phone number to reach you.",
    ]
    tickets = await desk.store.records("tickets", 1)
    assert [(t["id"], t["kind"]) for t in tickets] == [("TK-000001", "callback")]
    assert tickets[0]["due_at"] == pytest.approx(desk.clock.now() + DAY + 6 * 3600)  # 18 business hours: Monday 09:00 → Tuesday 15:00
    case = await desk.case_of(conversation)
    assert case.callback_requested and case.awaiting_phone
    notices = await delivered_notices(desk, "callback")
    assert [(n["recipients"], n["text"]) for n in notices] == [
        (["maya"], "Call back requested on CS-000001 (due by Tuesday 24 November, 3:00 PM CST).")
    ]


async def test_callback_from_friday_skips_the_weekend(desk: Desk) -> None:
    desk.clock.set(chicago(2026, 11, 27, 10))  # Friday 10:00
    conversation = await desk.customer()

    replies = await desk.say(conversation, "Could you give me a call about my class roster?")

    tickets = await desk.store.records("tickets", 1)
    assert tickets[0]["due_at"] == pytest.approx(chicago(2026, 11, 30, 16))  # 18 business hours: 9 h Friday, 9 h Monday
    assert "(by Monday 30 November, 4:00 PM CST)" in replies[-1]


async def test_callback_is_booked_only_once_then_offers_chat_or_email(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "can you call me back?")

    replies = await desk.say(conversation, "Please just phone me, it's easier")

    assert replies == [
        "A call back is already booked for case CS-000001. If that time doesn't suit you, you can reach us "
        "here by chat or by email whenever is convenient."
    ]
    assert len(await desk.store.records("tickets", 1)) == 1


async def test_phone_number_in_a_later_message_is_taken(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "can you call me back?")

    replies = await desk.say(conversation, "Sure, it's 555-201-7788")

    assert replies == ["Thanks, we'll call you at 555-201-7788."]
    case = await desk.case_of(conversation)
    assert case.details["phone"] == "555-201-7788" and case.awaiting_phone is False
    # the number is taken once: a later message is handled as usual
    replies = await desk.say(conversation, "my son's class is 4B")
    assert "we'll call you" not in " ".join(replies)


async def test_phone_number_with_area_code_in_brackets_is_kept_whole(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "can you call me back?")

    replies = await desk.say(conversation, "Sure, it's (555) 201-7788")

    assert replies == ["Thanks, we'll call you at (555) 201-7788."]
    case = await desk.case_of(conversation)
    assert case.details["phone"] == "(555) 201-7788" and case.awaiting_phone is False


async def test_phone_number_in_the_request_needs_no_prompt(desk: Desk) -> None:
    conversation = await desk.customer()

    replies = await desk.say(conversation, "Please call me at +1 555 201 7788 about my invoice")

    assert replies[-1].endswith("(by Tuesday 24 November, 3:00 PM CST).")
    assert desk.settings.spiels.callback_number_prompt not in replies[-1]
    tickets = await desk.store.records("tickets", 1)
    assert tickets[0]["text"] == "+1 555 201 7788"
    assert (await desk.case_of(conversation)).awaiting_phone is False


async def test_callback_never_offered_unless_asked(desk: Desk) -> None:
    conversation, _ = await queue_customer(desk)  # offline path: a ticket, but no phone call offered
    await desk.say(conversation, "ok thanks")

    for text in await texts(desk, conversation):
        assert "call back" not in text.lower() and "phone" not in text.lower()
    assert [t["kind"] for t in await desk.store.records("tickets", 1)] == ["offline_message"]


# ----- manager requests (SOP 000) --------------------------------------------------------------------


async def test_manager_request_alerts_the_manager_on_duty_and_queues(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.runtime.handle(StaffPresence("maya", True))
    conversation = await desk.customer()

    replies = await desk.say(conversation, "I want to speak to a manager")

    assert replies == [
        opened(desk, "CS-000001"),
        "I've alerted the manager on duty about case CS-000001; they'll join as soon as they can.",
        queued(desk, 1, "1 minute"),
    ]
    case = await desk.case_of(conversation)
    assert case.manager_escalated and case.state is CaseState.QUEUED
    notices = await delivered_notices(desk, "manager")
    assert [(n["recipients"], n["text"]) for n in notices] == [
        (["maya"], "The customer on CS-000001 asked for a manager. No advisor has it yet (state: new).")
    ]


async def test_manager_request_while_with_an_agent_alerts_manager_and_agent(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.runtime.handle(StaffPresence("maya", True))
    conversation, _ = await queue_customer(desk)
    await desk.staff("ana", "accept", 1)

    replies = await desk.say(conversation, "This isn't helping, get me your supervisor")

    assert replies == [desk.settings.spiels.manager_alerted.format(case="CS-000001")]
    notices = await delivered_notices(desk, "manager")
    assert len(notices) == 1
    assert set(notices[0]["recipients"]) == {"maya", "ana"}
    assert notices[0]["text"] == "The customer on CS-000001 asked for a manager. Ana is on the chat."
    assert (await desk.case_of(conversation)).state is CaseState.WITH_AGENT


async def test_repeated_manager_request_notifies_again(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.runtime.handle(StaffPresence("maya", True))
    conversation = await desk.customer()
    await desk.say(conversation, "I want to speak to a manager")

    replies = await desk.say(conversation, "Can I please speak to a manager?")

    assert replies == [desk.settings.spiels.manager_alerted.format(case="CS-000001")]
    assert len(await delivered_notices(desk, "manager")) == 2


async def test_manager_request_uses_the_on_duty_manager_only(make_desk: Any) -> None:
    roster = [
        {"id": "ana", "name": "Ana", "role": "agent"},
        {"id": "maya", "name": "Maya", "role": "manager", "on_duty": True},
        {"id": "mo", "name": "Mo", "role": "manager"},
    ]
    desk = await make_desk(desk_settings(roster=roster))
    await desk.agent_online("ana")
    for manager in ("maya", "mo"):
        await desk.runtime.handle(StaffPresence(manager, True))
    conversation = await desk.customer()

    await desk.say(conversation, "I want to speak to a manager")

    assert [n["recipients"] for n in await delivered_notices(desk, "manager")] == [["maya"]]


# ----- CSAT survey (SOP 000) -----------------------------------------------------------------------


async def resolved_customer(desk: Desk) -> str:
    conversation = await offered_customer(desk)
    await desk.press(conversation, "This solved it")
    return conversation


async def test_rating_by_button_then_no_comment(desk: Desk) -> None:
    conversation = await resolved_customer(desk)

    replies = await desk.press(conversation, "5")

    assert replies == ["Thanks! Anything you'd like to tell us about it? (optional)"]
    assert await bot_buttons(desk, conversation) == ["No comment"]
    assert [(s["rating"], s["comment"]) for s in await desk.store.records("surveys", 1)] == [(5, "")]

    replies = await desk.press(conversation, "No comment")

    assert replies == [desk.settings.spiels.survey_thanks]
    case = await desk.case_of(conversation)
    assert case.survey is SurveyStage.DONE and case.survey_rating == 5
    assert case.state is CaseState.CLOSED
    assert [(s["rating"], s["comment"]) for s in await desk.store.records("surveys", 1)] == [(5, "")]


async def test_rating_by_typing_a_number_then_a_comment(desk: Desk) -> None:
    conversation = await resolved_customer(desk)

    replies = await desk.say(conversation, "4")

    assert replies == [desk.settings.spiels.survey_comment]
    replies = await desk.say(conversation, "Quick and clear, thanks")

    assert replies == [desk.settings.spiels.survey_thanks]
    assert [(s["rating"], s["comment"]) for s in await desk.store.records("surveys", 1)] == [(4, "Quick and clear, thanks")]
    case = await desk.case_of(conversation)
    assert case.number == "CS-000001" and case.state is CaseState.CLOSED
    assert (await desk.store.conversation(conversation)).case_id == 1  # type: ignore[union-attr]


async def test_second_rating_button_is_refused(desk: Desk) -> None:
    conversation = await resolved_customer(desk)
    await desk.press(conversation, "4")

    replies = await desk.press(conversation, "1")

    assert replies == ["You've already rated case CS-000001; thank you!"]
    assert [s["rating"] for s in await desk.store.records("surveys", 1)] == [4]
    assert (await desk.case_of(conversation)).survey_rating == 4


async def test_rating_button_refused_after_the_survey_is_done(desk: Desk) -> None:
    conversation = await resolved_customer(desk)
    await desk.press(conversation, "4")
    await desk.press(conversation, "No comment")

    replies = await desk.press(conversation, "2")

    assert replies == [desk.settings.spiels.survey_already.format(case="CS-000001")]
    assert [s["rating"] for s in await desk.store.records("surveys", 1)] == [4]


async def test_second_rating_typed_after_the_survey_is_refused(desk: Desk) -> None:
    conversation = await resolved_customer(desk)
    await desk.say(conversation, "4")
    await desk.press(conversation, "No comment")

    replies = await desk.say(conversation, "5")

    assert replies == [desk.settings.spiels.survey_already.format(case="CS-000001")]
    assert await desk.store.case(2) is None
    assert [s["rating"] for s in await desk.store.records("surveys", 1)] == [4]


async def test_second_rating_typed_while_comment_awaited_is_refused(desk: Desk) -> None:
    conversation = await resolved_customer(desk)
    await desk.say(conversation, "4")

    replies = await desk.say(conversation, "2")

    assert replies == [desk.settings.spiels.survey_already.format(case="CS-000001")]
    assert [(s["rating"], s["comment"]) for s in await desk.store.records("surveys", 1)] == [(4, "")]


async def test_survey_asked_once_per_case(desk: Desk) -> None:
    conversation = await resolved_customer(desk)
    await desk.advance(HOUR)  # closed by the close timer, unanswered

    survey_texts = [t for t in await texts(desk, conversation) if t.startswith("How would you rate")]
    assert survey_texts == [desk.settings.spiels.survey_ask.format(case="CS-000001")]


# ----- a new need is a new case (SOP 000) ------------------------------------------------------------


async def test_new_message_after_resolution_opens_a_new_linked_case(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await desk.customer()
    await desk.say(conversation, DETAILED)
    await desk.staff("ana", "accept", 1)
    await desk.staff("ana", "resolve", 1)

    replies = await desk.say(conversation, "Another thing: how do I add a co-teacher?")

    assert replies[0] == (
        "I've opened a new case, CS-000002, for this (your earlier case was CS-000001). "
        "Please keep the number handy for any follow-up."
    )
    new = await desk.case_of(conversation)
    assert new.id == 2 and new.number == "CS-000002" and new.previous_case_id == 1
    assert new.problem == "Another thing: how do I add a co-teacher?"
    assert new.details == {"account_id": "user ID 48213", "browser": "Chrome", "email": "jo@example.com"}
    assert new.state is not CaseState.RESOLVED and new.is_open
    old = await desk.store.case(1)
    assert old is not None and old.state is CaseState.CLOSED and old.resolution == "agent"
    # the carried-over details are not asked for again
    assert replies[1] == ask_details(desk, "error", "steps")


async def test_resolved_case_is_never_reopened_by_a_new_message(desk: Desk) -> None:
    conversation = await resolved_customer(desk)

    await desk.say(conversation, "My password works but now the export is empty")

    old = await desk.store.case(1)
    assert old is not None and old.state is CaseState.CLOSED and old.resolved_at is not None
    assert (await desk.case_of(conversation)).id == 2


async def test_help_and_unknown_commands_get_the_help_text(desk: Desk) -> None:
    conversation = await desk.customer()

    assert await desk.say(conversation, "/help") == [desk.settings.spiels.help_customer]
    assert await desk.say(conversation, "/frobnicate now") == [desk.settings.spiels.help_customer]
    assert (await desk.store.conversation(conversation)).case_id is None  # type: ignore[union-attr]
    assert "customer: /help" in await desk.lines(conversation)


async def test_new_command_closes_an_unhandled_case_and_greets_again(desk: Desk) -> None:
    conversation = await offered_customer(desk)

    replies = await desk.say(conversation, "/new")

    assert replies == [desk.settings.spiels.greeting]
    old = await desk.store.case(1)
    assert old is not None and old.state is CaseState.CLOSED
    assert [o["event"] for o in await desk.store.records("offers", 1)] == ["offered", "no_answer"]

    replies = await desk.say(conversation, "How do I add a co-teacher?")
    assert replies[0].startswith("I've opened a new case, CS-000002")
    assert (await desk.case_of(conversation)).previous_case_id == 1


async def test_new_command_refused_while_a_person_handles_the_case(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation, _ = await queue_customer(desk)

    replies = await desk.say(conversation, "/new")

    assert replies == ["Case CS-000001 is still being handled; you can start a new one once it's resolved."]
    assert (await desk.case_of(conversation)).state is CaseState.QUEUED


async def test_agent_command_skips_intake_and_queues(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await desk.customer()
    await desk.say(conversation, "The gradebook won't load")

    replies = await desk.say(conversation, "/agent")

    assert replies == [queued(desk, 1, "1 minute")]
    assert (await desk.case_of(conversation)).state is CaseState.QUEUED


async def test_agent_command_without_a_case_gets_help(desk: Desk) -> None:
    conversation = await desk.customer()

    assert await desk.say(conversation, "/agent") == [desk.settings.spiels.help_customer]


async def test_empty_and_whitespace_messages_are_ignored(desk: Desk) -> None:
    conversation = await desk.customer()
    before = await desk.lines(conversation)

    assert await desk.say(conversation, "") == []
    assert await desk.say(conversation, "   \n\t ") == []

    assert await desk.lines(conversation) == before
    assert (await desk.store.conversation(conversation)).case_id is None  # type: ignore[union-attr]


async def test_stale_button_from_an_earlier_case_is_ignored(desk: Desk) -> None:
    conversation = await offered_customer(desk)
    await desk.say(conversation, "that worked")  # case 1 resolved by text; its offer buttons remain on screen
    await desk.say(conversation, "New question: my class code is rejected")
    assert (await desk.case_of(conversation)).id == 2

    replies = await desk.press(conversation, "I still need help")

    assert replies == ["That button belongs to an earlier step, so I've ignored it."]
    current = await desk.case_of(conversation)
    assert current.id == 2 and current.state is CaseState.NEW
    old = await desk.store.case(1)
    assert old is not None and old.state is CaseState.CLOSED


async def test_button_of_another_conversation_is_stale(desk: Desk) -> None:
    mine = await offered_customer(desk)
    other = await desk.customer()
    button = [b for e in await desk.store.transcript(mine) for b in e.buttons if b["label"] == "This solved it"][0]

    from bot.events import CustomerAction

    actions = await desk.runtime.handle(CustomerAction(other, button["id"], button["value"]))

    said = [a.text for a in actions if type(a).__name__ == "Say"]
    assert said == [desk.settings.spiels.stale_button]
    assert (await desk.case_of(mine)).state is CaseState.SELF_SERVICE


# ----- closing -----------------------------------------------------------------------------------------


async def test_close_timer_closes_resolved_case_after_thirty_minutes(desk: Desk) -> None:
    conversation = await resolved_customer(desk)

    await desk.advance(30 * MINUTE - 1)
    assert (await desk.case_of(conversation)).state is CaseState.RESOLVED

    await desk.advance(1)
    assert (await desk.case_of(conversation)).state is CaseState.CLOSED


async def test_close_timer_follows_the_configured_time(make_desk: Any) -> None:
    desk = await make_desk(desk_settings(timings={"close_resolved_after": "5m"}))
    conversation = await resolved_customer(desk)

    await desk.advance(5 * MINUTE)

    assert (await desk.case_of(conversation)).state is CaseState.CLOSED


async def test_article_check_follows_the_configured_time(make_desk: Any) -> None:
    desk = await make_desk(desk_settings(timings={"article_check_after": "90s"}))
    conversation = await offered_customer(desk)

    await desk.advance(89)
    assert desk.settings.spiels.article_check not in await texts(desk, conversation)
    await desk.advance(1)
    assert (await texts(desk, conversation))[-1] == desk.settings.spiels.article_check


async def test_custom_finder_with_no_articles_always_queues(make_desk: Any) -> None:
    desk = await make_desk(finder=KeywordFinder({}))
    await desk.agent_online("ana")
    conversation = await desk.customer()
    await desk.say(conversation, "I forgot my password")

    replies = await desk.say(conversation, "skip")

    assert replies == [queued(desk, 1, "1 minute")]


async def test_article_search_leaves_out_the_details_given_up_front(desk: Desk) -> None:
    conversation = await desk.customer()

    await desk.say(
        conversation,
        "I forgot my password and can't log in. My user ID is 48213, I use Chrome, my email is ann@school.org, "
        "the error says 'Invalid password', steps: I typed it twice.",
    )

    assert desk.finder.queries[-1] == "I forgot my password and can't log in."
    assert (await desk.case_of(conversation)).details["account_id"] == "user ID 48213"


async def test_the_customers_first_message_comes_before_the_case_number(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "My export is broken")

    lines = await desk.lines(conversation)
    assert lines[1] == "customer: My export is broken"
    assert lines[2].startswith("bot: I've opened case CS-000001")


# ----- came back: the article that solved the last case is offered again (issue 5) -----------------


async def solved_then_back(desk: Desk, after: float, text: str) -> tuple[int, list[tuple[str, str]]]:
    """A customer solved by the password article comes back `after` seconds later with `text`;
    returns the first case's id and its offer records."""
    conversation = await offered_customer(desk)
    await desk.press(conversation, "This solved it")
    first = await desk.case_of(conversation)
    await desk.advance(after)
    await desk.say(conversation, text)
    await desk.say(conversation, "skip")
    second = await desk.case_of(conversation)
    assert second.previous_case_id == first.id and second.offered_articles
    return first.id, [(o["event"], o["article_ids"]) for o in await desk.store.records("offers", first.id)]


async def test_same_article_offered_again_within_the_window_records_came_back(desk: Desk) -> None:
    _, offers = await solved_then_back(desk, 6 * DAY, "I forgot my password again")

    assert offers == [("offered", '["reset-password"]'), ("helped", '["reset-password"]'), ("came_back", '["reset-password"]')]


async def test_same_article_offered_after_the_window_is_not_a_came_back(desk: Desk) -> None:
    _, offers = await solved_then_back(desk, 7 * DAY + MINUTE, "I forgot my password again")

    assert [event for event, _ in offers] == ["offered", "helped"]


async def test_a_different_article_on_the_next_case_is_not_a_came_back(desk: Desk) -> None:
    _, offers = await solved_then_back(desk, DAY, "my export is broken")

    assert [event for event, _ in offers] == ["offered", "helped"]


async def test_came_back_window_is_configurable(make_desk: Any) -> None:
    desk = await make_desk(desk_settings(knowledge={"came_back_days": 2}))

    _, offers = await solved_then_back(desk, 3 * DAY, "I forgot my password again")

    assert [event for event, _ in offers] == ["offered", "helped"]
