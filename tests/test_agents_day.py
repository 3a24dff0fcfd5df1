"""The agent's day: the SOP rules in their corner cases, as conversation scripts on the fake clock.

Each test reads as the rule it checks (issue 12: no customer is ever stranded, every SOP rule holds
in the corners)."""

from __future__ import annotations

from pathlib import Path

from bot.domain import CaseState, Role
from bot.events import StaffPresence
from bot.pii import for_role
from tests.harness import Desk, open_desk
from tests.test_engine_consult import accepted, claimed, consult_settings, thread

MINUTE = 60.0


async def notices(desk: Desk, kind: str) -> list[dict[str, object]]:
    await desk.runtime.deliver_outbox()
    return desk.notices(kind)


async def queued(desk: Desk, text: str) -> str:
    """A customer whose first message goes straight to a person (the desk's finder offers nothing)."""
    conversation = await desk.customer()
    await desk.say(conversation, text)
    await desk.say(conversation, "skip")
    return conversation


# ----- smaller wrong things ---------------------------------------------------------------------------


async def test_the_two_minute_alert_says_two_minutes_even_when_its_timer_fires_a_moment_late(desk: Desk) -> None:
    await desk.agent_online("ana")
    await queued(desk, "My gradebook page is blank")
    await desk.advance(2 * MINUTE + 0.4)  # timers are polled: they fire a little after they fall due
    (alert,) = await notices(desk, "sla_alert")
    assert alert["text"] == "CS-000001 has waited 2 minutes without an advisor. Please accept it."


async def test_a_queue_notice_never_shows_tier_one_part_of_an_email(desk: Desk) -> None:
    await desk.agent_online("ana")
    problem = "My gradebook page is blank after the update and the print button does nothing at all, my address is annabelle.longname@school.example.org"
    assert problem.index("@") < 120 < len(problem)  # the old cut at 120 characters fell inside the address
    await queued(desk, problem)
    (notice,) = await notices(desk, "queue_new")
    shown = for_role(Role.AGENT, str(notice["text"]))
    assert "annabelle" not in shown and "longname" not in shown and "school.example" not in shown


async def test_intake_reads_no_error_as_the_answer_and_keeps_emails_out_of_the_steps(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "My assignment disappeared. no error, I posted it and it vanished. My email is jo@school.org, I typed the title and clicked Post")
    case = await desk.case_of(conversation)
    assert case.details["error"] == "no error message"
    assert case.details["steps"].startswith("I typed the title and clicked Post")
    assert "org" not in case.details["steps"]


async def test_the_holding_line_leaves_out_a_name_nobody_gave(tmp_path: Path) -> None:
    desk = await open_desk(tmp_path, consult_settings())
    try:
        await accepted(desk)
        await desk.staff("ana", "hold", 1)
        said = [e.text for e in await desk.store.transcript("web:c1")]
        assert "Thanks for your patience. I need a moment to look into this for you; please stay with me." in said
        assert not any(", there." in line for line in said)
    finally:
        await desk.store.close()


async def test_sme_pointers_catch_refund_approvals_and_supervisor_escalations(tmp_path: Path) -> None:
    desk = await open_desk(tmp_path, consult_settings())
    try:
        await accepted(desk)
        await claimed(desk)
        await desk.staff("ana", "consult", 1, "Can you approve a refund for this customer?")
        await desk.staff("ana", "consult", 1, "Or can you escalate this to a supervisor?")
        said = [text for author, text in await thread(desk) if author == "bot"]
        assert "SMEs don't process or approve credit requests: please follow the credit policy." in said
        assert any(line.startswith("SMEs don't take escalations or transfers") for line in said)
    finally:
        await desk.store.close()


# ----- ownership moves, never a transfer to an SME --------------------------------------------------------


async def with_ana(desk: Desk) -> str:
    """A customer whose chat Ana has accepted (Ben is available too)."""
    await desk.agent_online("ana")
    await desk.agent_online("ben")
    conversation = await queued(desk, "My gradebook page is blank")
    await desk.staff("ana", "accept", 1)
    await desk.staff("ana", "say", 1, "Hi, Ana here. Let me look.")
    return conversation


async def test_an_agent_who_disconnects_has_a_grace_period_then_the_chat_goes_back_to_the_front_of_the_queue(desk: Desk) -> None:
    conversation = await with_ana(desk)
    older = await queued(desk, "My roster will not save")  # CS-000002, waiting since before
    await desk.runtime.handle(StaffPresence("ana", False))  # her tab closed

    await desk.advance(2 * MINUTE - 1)
    assert (await desk.case_of(conversation)).agent_id == "ana"  # she may still come back
    await desk.advance(1)

    case = await desk.case_of(conversation)
    assert case.state is CaseState.QUEUED and case.agent_id is None
    said = [e.text for e in await desk.store.transcript(conversation)]
    assert "Ana had to step away, so the next available advisor will pick up your chat from here." in said
    assert said[-1].startswith("You're now number 1 in the queue")  # ahead of the chat that was already waiting
    assert (await desk.case_of(older)).told_position == 2
    assert (await desk.store.active_chats()).get("ana", 0) == 0
    assert any("Back in the queue: Ana went offline" == n.text for n in await desk.store.notes(1))
    assert any(n["text"].startswith("CS-000001 is back in the queue") for n in await notices(desk, "queue_new"))

    await desk.staff("ben", "accept", 1)
    assert (await desk.store.transcript(conversation))[-1].text == "Ben has joined the chat and will help you from here."


async def test_an_agent_back_within_the_grace_period_keeps_the_chat(desk: Desk) -> None:
    conversation = await with_ana(desk)
    await desk.runtime.handle(StaffPresence("ana", False))
    await desk.advance(MINUTE)
    await desk.runtime.handle(StaffPresence("ana", True))  # a page reload
    await desk.advance(10 * MINUTE)
    assert (await desk.case_of(conversation)).agent_id == "ana"


async def test_a_chat_put_back_in_the_queue_is_held_to_the_two_minute_acceptance_rule_again(desk: Desk) -> None:
    await with_ana(desk)
    await desk.runtime.handle(StaffPresence("ana", False))
    await desk.advance(2 * MINUTE)  # back in the queue
    await desk.advance(2 * MINUTE)
    alerts = await notices(desk, "sla_alert")
    assert [a["text"] for a in alerts] == ["CS-000001 has waited 2 minutes without an advisor. Please accept it."]


async def test_a_chat_on_hold_whose_agent_left_is_not_stranded(desk: Desk) -> None:
    conversation = await with_ana(desk)
    await desk.staff("ana", "hold", 1)
    await desk.runtime.handle(StaffPresence("ana", False))
    await desk.advance(2 * MINUTE)
    case = await desk.case_of(conversation)
    assert case.state is CaseState.QUEUED and case.on_hold_since is None


async def test_a_restart_gives_every_console_agent_the_grace_period(desk: Desk) -> None:
    conversation = await with_ana(desk)
    await desk.runtime.consoles_gone()  # what start-up does: no console connection survived
    await desk.advance(2 * MINUTE)
    assert (await desk.case_of(conversation)).state is CaseState.QUEUED


async def test_an_agent_hands_a_chat_over_with_a_note(desk: Desk) -> None:
    conversation = await with_ana(desk)
    await desk.staff("ana", "handover", 1, "ben shift change, she needs the Week 3 export")

    case = await desk.case_of(conversation)
    assert case.agent_id == "ben" and case.state is CaseState.WITH_AGENT
    assert await desk.store.active_chats() == {"ben": 1}
    assert (await desk.store.transcript(conversation))[-1].text == "Ben has joined the chat and will help you from here."
    (note,) = await desk.store.notes(1)
    assert note.text == "Handed over to Ben: shift change, she needs the Week 3 export" and note.tags == ("handover",)
    (told,) = await notices(desk, "handover")
    assert told["recipients"] == ["ben"] and told["text"] == "Ana handed CS-000001 to you: shift change, she needs the Week 3 export"
    await desk.staff("ana", "say", 1, "still me")
    assert "still me" not in [e.text for e in await desk.store.transcript(conversation)]


async def test_a_manager_reassigns_any_chat(desk: Desk) -> None:
    conversation = await with_ana(desk)
    await desk.staff("maya", "reassign", 1, "ben Ana is in a meeting")
    assert (await desk.case_of(conversation)).agent_id == "ben"
    (told,) = await notices(desk, "handover")
    assert told["text"] == "Ana handed CS-000001 to you: Ana is in a meeting"


async def test_a_chat_is_never_handed_to_an_sme_or_someone_who_cannot_take_it(desk: Desk) -> None:
    await with_ana(desk)
    await desk.staff("ana", "handover", 1, "sam he knows billing")
    await desk.staff("ben", "status", text="away")
    await desk.staff("ana", "handover", 1, "ben")
    await desk.staff("ana", "handover", 1, "nobody")
    replies = [n["text"] for n in await notices(desk, "reply")]
    assert "Sam (sme) can't own a Tier 1 chat; consult an SME instead of transferring." in replies
    assert "Ben is not available to take chats right now." in replies
    assert any(r.startswith("Hand over to whom?") for r in replies)
    assert (await desk.store.case(1)).agent_id == "ana"  # type: ignore[union-attr]


async def test_an_agent_puts_a_chat_back_in_the_queue(desk: Desk) -> None:
    conversation = await with_ana(desk)
    await desk.staff("ana", "requeue", 1, "I have to take a call")
    case = await desk.case_of(conversation)
    assert case.state is CaseState.QUEUED and case.requeued_at == desk.clock.now()
    assert any(n.text == "Back in the queue: Ana: I have to take a call" for n in await desk.store.notes(1))


# ----- the queue tells the truth ------------------------------------------------------------------------


async def test_when_every_agent_goes_away_queued_customers_are_told_and_offered_a_message(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await queued(desk, "My gradebook page is blank")
    await desk.staff("ana", "status", text="away")

    last = (await desk.store.transcript(conversation))[-1]
    assert last.text.startswith("None of our advisors can take a chat right now")
    assert [b["label"] for b in last.buttons] == ["Leave a message", "Keep waiting"]
    await desk.advance(10 * MINUTE)
    told = [e.text for e in await desk.store.transcript(conversation) if e.text.startswith("None of our advisors")]
    assert len(told) == 1  # told once, not every two minutes

    await desk.press(conversation, "Leave a message")
    case = await desk.case_of(conversation)
    assert case.state is CaseState.TICKETED and case.ticket == "TK-000001"


async def test_keep_waiting_then_an_agent_comes_back(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await queued(desk, "My gradebook page is blank")
    await desk.staff("ana", "status", text="away")
    replies = await desk.press(conversation, "Keep waiting")
    assert replies == ["OK, you're still number 1 in the queue. I'll tell you as soon as an advisor is free."]
    await desk.staff("ana", "status", text="available")
    assert (await desk.store.transcript(conversation))[-1].text.startswith("You're now number 1 in the queue; the wait is about")


async def test_a_waiting_customer_hears_a_fresh_estimate_every_two_minutes(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await queued(desk, "My gradebook page is blank")
    before = len(await desk.store.transcript(conversation))
    await desk.advance(2 * MINUTE)
    await desk.advance(2 * MINUTE)
    updates = [e.text for e in (await desk.store.transcript(conversation))[before:]]
    assert updates == ["You're still number 1 in the queue; the wait is now about 1 minute."] * 2


# ----- call backs only when asked (SOP 001), once per customer (SOP 004) ---------------------------------------


async def test_a_refused_call_is_not_a_call_back_and_the_problem_still_gets_help(desk: Desk) -> None:
    conversation = await desk.customer()
    replies = await desk.say(conversation, "Please don't call me, I prefer chat. My gradebook export fails")
    assert not any("call back" in r for r in replies)
    assert any(r.startswith("To help you faster, could you tell me") for r in replies)  # intake, then articles
    assert not (await desk.case_of(conversation)).callback_requested
    assert await notices(desk, "callback") == []


async def test_a_call_in_the_past_is_not_a_request(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "I tried your phone number but nobody answered")
    assert not (await desk.case_of(conversation)).callback_requested


async def test_a_request_that_also_describes_a_problem_gets_both(desk: Desk) -> None:
    conversation = await desk.customer()
    replies = await desk.say(conversation, "Can you call me? My gradebook export fails every time I try it")
    assert any(r.startswith("I've requested a call back") for r in replies)
    assert any(r.startswith("To help you faster, could you tell me") for r in replies)
    assert (await desk.say(conversation, "skip"))[0].startswith("These help articles may answer")


async def test_during_an_agent_chat_the_number_is_asked_for_and_kept(desk: Desk) -> None:
    conversation = await with_ana(desk)
    replies = await desk.say(conversation, "can you call me back?")
    assert replies[0].endswith("Please reply with the best phone number to reach you.")
    assert (await desk.say(conversation, "it's 0161 496 0000")) == ["Thanks, we'll call you at 0161 496 0000."]
    case = await desk.case_of(conversation)
    assert case.details["phone"] == "0161 496 0000" and not case.awaiting_phone
    assert "ana" in [r for n in await notices(desk, "callback") for r in n["recipients"]]


async def test_one_call_back_per_customer_even_across_cases(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "can you call me back? 555-0199")
    await desk.say(conversation, "/new")
    replies = await desk.say(conversation, "Can you call me about something else?")
    assert replies[-1].startswith("A call back is already booked") and "by chat or by email" in replies[-1]
    assert len([t for t in await desk.store.records("tickets") if t["kind"] == "callback"]) == 1
    await desk.advance(7 * 24 * 3600 + 1)
    await desk.say(conversation, "/new")
    replies = await desk.say(conversation, "can you call me back?")
    assert replies[-1].startswith("I've requested a call back")


async def test_a_call_back_is_marked_done_from_the_work_list(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "can you call me back? 555-0199")
    await desk.agent_online("ana")
    await desk.staff("ana", "calledback", 1)
    assert (await desk.case_of(conversation)).callback_done_at == desk.clock.now()


# ----- manager requests always reach a person ------------------------------------------------------------


async def test_with_the_manager_offline_a_manager_request_reaches_whoever_is_online(desk: Desk) -> None:
    conversation = await with_ana(desk)
    await desk.runtime.handle(StaffPresence("tara", True))  # Tier II lead online; Maya (on duty) is not
    replies = await desk.say(conversation, "I want to speak to a manager")
    assert replies == ["I've alerted the manager on duty about case CS-000001; they'll join as soon as they can."]
    (notice,) = await notices(desk, "manager")
    assert set(notice["recipients"]) == {"maya", "tara", "ana"}


async def test_with_nobody_online_the_customer_is_told_when_a_manager_will_contact_them(desk: Desk) -> None:
    conversation = await desk.customer()
    await desk.say(conversation, "My export is broken")
    replies = await desk.say(conversation, "I want to speak to a manager")
    assert replies[0].startswith("No manager is online right now") and "a manager will contact you by" in replies[0]
    assert (await desk.case_of(conversation)).manager_requested_at == desk.clock.now()


async def test_a_repeated_manager_request_notifies_again(desk: Desk) -> None:
    conversation = await with_ana(desk)
    await desk.runtime.handle(StaffPresence("maya", True))
    await desk.say(conversation, "I want to speak to a manager")
    await desk.advance(MINUTE)
    await desk.say(conversation, "I asked for a manager, where are they?!")  # no phrase: no second ping
    await desk.say(conversation, "Get me a manager please")
    assert len(await notices(desk, "manager")) == 2


# ----- tickets are work -------------------------------------------------------------------------------


async def ticketed(desk: Desk) -> str:
    conversation = await desk.customer()
    await desk.say(conversation, "My gradebook page is blank, my email is jo@school.org")
    await desk.say(conversation, "skip")
    assert (await desk.case_of(conversation)).ticket == "TK-000001"
    return conversation


async def test_an_agent_takes_a_ticket_answers_through_the_customers_channel_and_resolves_it(desk: Desk) -> None:
    conversation = await ticketed(desk)
    await desk.agent_online("ana")
    await desk.staff("ana", "accept", 1)
    case = await desk.case_of(conversation)
    assert case.state is CaseState.TICKETED and case.agent_id == "ana" and await desk.store.active_chats() == {}
    await desk.staff("ana", "say", 1, "Hi Jo, the gradebook fix is live; please reload.")
    assert (await desk.store.transcript(conversation))[-1].text == "Hi Jo, the gradebook fix is live; please reload."
    await desk.agent_online("ben")
    await desk.staff("ben", "accept", 1)
    assert "CS-000001 is already being answered by Ana." in [n["text"] for n in await notices(desk, "reply")]
    await desk.staff("ana", "resolve", 1)
    assert (await desk.case_of(conversation)).state is CaseState.RESOLVED


async def test_new_after_a_ticket_opens_a_new_case_and_the_ticket_stays_open(desk: Desk) -> None:
    conversation = await ticketed(desk)
    await desk.say(conversation, "/new")
    replies = await desk.say(conversation, "Another thing: how do I add a co-teacher?")
    assert replies[0].startswith("I've opened a new case, CS-000002")
    assert (await desk.store.case(1)).state is CaseState.TICKETED  # type: ignore[union-attr]


async def test_a_message_long_after_a_ticket_is_a_new_need(desk: Desk) -> None:
    conversation = await ticketed(desk)
    assert (await desk.say(conversation, "Also it happens in Firefox"))[0].startswith("Thanks, I've added that to case CS-000001")
    await desk.advance(2 * 3600)
    replies = await desk.say(conversation, "How do I add a co-teacher?")
    assert replies[0].startswith("I've opened a new case, CS-000002")


async def test_a_case_waiting_for_tier_two_is_held_to_the_two_minute_rule(desk: Desk) -> None:
    await with_ana(desk)
    await desk.staff("ana", "escalate", 1, "tier2")
    await desk.advance(2 * MINUTE)
    (alert,) = await notices(desk, "sla_alert")
    assert alert["text"] == "CS-000001 has waited 2 minutes for Tier II. Please take it."
    assert set(alert["recipients"]) == {"tara", "maya"}
    assert (await desk.store.case(1)).escalated_at is not None  # type: ignore[union-attr]


async def test_a_bare_escalate_asks_for_the_target_and_escalates_nothing(desk: Desk) -> None:
    await with_ana(desk)
    await desk.staff("ana", "say", 1, "/escalate")
    assert (await desk.store.case(1)).tier == 1  # type: ignore[union-attr]
    assert "Use /escalate tier2 or /escalate manager." in [n["text"] for n in await notices(desk, "reply")]
