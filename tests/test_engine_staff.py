"""What staff do to cases, scripted on a real desk: accept, talk, note, resolve, escalate, status.

Roster (tests/harness.py): Ana and Ben are Tier I agents (Ben takes one chat at a time), Tara is
Tier II, Maya the manager on duty, Sam a subject-matter expert.
"""

from __future__ import annotations

from typing import Any


from bot.domain import AgentStatus, CaseState
from bot.events import NotifyStaff, StaffPresence
from tests.harness import Desk

MINUTE = 60.0
DAY = 86400.0

DETAILED = (
    "My gradebook page is blank. My user ID is 48213, I use Chrome, my email is jo@example.com. "
    'The error says "Page failed to load". Steps: I clicked Gradebook and then Week 3.'
)


async def queue_customer(desk: Desk, text: str = DETAILED) -> str:
    conversation = await desk.customer()
    await desk.say(conversation, text)
    return conversation


async def with_agent(desk: Desk, agent: str = "ana") -> str:
    """A customer whose case CS-00000n is queued and accepted by `agent`."""
    conversation = await queue_customer(desk)
    case = await desk.case_of(conversation)
    await desk.staff(agent, "accept", case.id)
    assert (await desk.case_of(conversation)).agent_id == agent
    return conversation


def replies_to(actions: list[Any], staff_id: str) -> list[str]:
    return [a.text for a in actions if isinstance(a, NotifyStaff) and a.kind == "reply" and staff_id in a.recipients]


def customer_says(actions: list[Any]) -> list[str]:
    return [a.text for a in actions if type(a).__name__ == "Say"]


async def notices(desk: Desk, kind: str) -> list[dict[str, Any]]:
    await desk.runtime.deliver_outbox()
    return desk.notices(kind)


async def texts(desk: Desk, conversation: str) -> list[str]:
    return [e.text for e in await desk.store.transcript(conversation)]


# ----- accepting chats --------------------------------------------------------------------------------


async def test_agent_accepts_a_queued_chat(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await queue_customer(desk)
    await desk.advance(30)

    actions = await desk.staff("ana", "accept", 1)

    assert customer_says(actions) == ["Ana has joined the chat and will help you from here."]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.WITH_AGENT and case.agent_id == "ana"
    assert case.accepted_at == desk.clock.now()
    assert [c.id for c in await desk.store.cases_of_staff("ana")] == [1]


async def test_sme_cannot_accept_a_chat(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await queue_customer(desk)

    actions = await desk.staff("sam", "accept", 1)

    assert replies_to(actions, "sam") == ["Your role (sme) can't accept a customer chat."]
    assert customer_says(actions) == []
    assert (await desk.case_of(conversation)).state is CaseState.QUEUED


async def test_someone_not_on_the_roster_cannot_use_staff_commands(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await queue_customer(desk)

    actions = await desk.staff("web:c1", "accept", 1)

    assert replies_to(actions, "web:c1") == ["You are not on the support roster, so you can't use staff commands."]
    assert (await desk.case_of(conversation)).state is CaseState.QUEUED
    actions = await desk.staff("mallory", "say", 1, "hello from an impostor")
    assert replies_to(actions, "mallory") == ["You are not on the support roster, so you can't use staff commands."]
    assert "hello from an impostor" not in await texts(desk, conversation)


async def test_agent_cannot_accept_an_escalated_case(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.agent_online("ben")
    conversation = await with_agent(desk, "ana")
    await desk.staff("ana", "escalate", 1, "tier2")

    actions = await desk.staff("ben", "accept", 1)

    assert replies_to(actions, "ben") == ["CS-000001 is waiting for Tier II."]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.ESCALATED and case.agent_id is None


async def test_tier2_accepts_an_escalated_case(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await with_agent(desk, "ana")
    await desk.staff("ana", "escalate", 1, "tier2")

    actions = await desk.staff("tara", "accept", 1)

    assert customer_says(actions) == ["Tara has joined the chat and will help you from here."]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.WITH_AGENT and case.agent_id == "tara" and case.tier == 2


async def test_tier2_cannot_accept_a_tier1_queued_case(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await queue_customer(desk)

    actions = await desk.staff("tara", "accept", 1)

    assert customer_says(actions) == []
    assert len(replies_to(actions, "tara")) == 1
    assert (await desk.case_of(conversation)).state is CaseState.QUEUED


async def test_a_taken_chat_cannot_be_accepted_again(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.agent_online("ben")
    conversation = await with_agent(desk, "ana")

    actions = await desk.staff("ben", "accept", 1)

    assert replies_to(actions, "ben") == ["CS-000001 is no longer waiting (already with agent by Ana)."]
    assert (await desk.case_of(conversation)).agent_id == "ana"


async def test_accept_needs_a_case(desk: Desk) -> None:
    await desk.agent_online("ana")

    actions = await desk.staff("ana", "accept")

    assert replies_to(actions, "ana") == ["That command needs a case: open one from your list first."]
    actions = await desk.staff("ana", "accept", 99)
    assert replies_to(actions, "ana") == ["That command needs a case: open one from your list first."]


# ----- capacity -------------------------------------------------------------------------------------------


async def test_agent_at_capacity_cannot_accept_another_chat(desk: Desk) -> None:
    await desk.agent_online("ben")  # capacity 1
    await queue_customer(desk)
    second = await queue_customer(desk)
    await desk.staff("ben", "accept", 1)

    actions = await desk.staff("ben", "accept", 2)

    assert replies_to(actions, "ben") == ["You're at capacity (1 chats). Resolve one before accepting another."]
    assert customer_says(actions) == []
    assert (await desk.case_of(second)).state is CaseState.QUEUED


async def test_default_capacity_is_three_chats(desk: Desk) -> None:
    await desk.agent_online("ana")
    for _ in range(4):
        await queue_customer(desk)
    for case_id in (1, 2, 3):
        await desk.staff("ana", "accept", case_id)

    actions = await desk.staff("ana", "accept", 4)

    assert replies_to(actions, "ana") == ["You're at capacity (3 chats). Resolve one before accepting another."]


async def test_agent_at_capacity_gets_no_new_chat_notices(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.agent_online("ben")
    await queue_customer(desk)
    first_notices = await notices(desk, "queue_new")
    assert set(first_notices[0]["recipients"]) == {"ana", "ben"}
    await desk.staff("ben", "accept", 1)

    await queue_customer(desk)

    latest = (await notices(desk, "queue_new"))[-1]
    assert latest["recipients"] == ["ana"] and latest["text"].startswith("New chat waiting: CS-000002")


async def test_resolving_frees_a_slot_and_tells_the_agent_what_is_waiting(desk: Desk) -> None:
    await desk.agent_online("ben")
    await queue_customer(desk)
    await desk.staff("ben", "accept", 1)
    second = await queue_customer(desk)

    await desk.staff("ben", "resolve", 1)

    latest = (await notices(desk, "queue_new"))[-1]
    assert latest["recipients"] == ["ben"]
    assert latest["text"] == "1 chat(s) waiting; the longest is CS-000002."
    actions = await desk.staff("ben", "accept", 2)
    assert customer_says(actions) == ["Ben has joined the chat and will help you from here."]
    assert (await desk.case_of(second)).agent_id == "ben"


# ----- talking to the customer ------------------------------------------------------------------------------


async def test_agent_say_is_relayed_with_sender_and_name(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await with_agent(desk, "ana")

    await desk.staff("ana", "say", 1, "  Hi Jo, let me check your gradebook.  ")

    last = (await desk.store.transcript(conversation))[-1]
    assert (last.sender, last.sender_name, last.text, last.case_id) == ("agent", "Ana", "Hi Jo, let me check your gradebook.", 1)
    await desk.runtime.deliver_outbox()
    said = [p for p in desk.outlet.delivered if p["type"] == "say" and p.get("sender") == "agent"]
    assert [(p["conversation_id"], p["sender_name"], p["text"]) for p in said] == [
        (conversation, "Ana", "Hi Jo, let me check your gradebook.")
    ]


async def test_empty_agent_say_sends_nothing(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await with_agent(desk, "ana")
    before = await texts(desk, conversation)

    await desk.staff("ana", "say", 1, "   ")

    assert await texts(desk, conversation) == before


async def test_customer_messages_reach_the_agent(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await with_agent(desk, "ana")

    replies = await desk.say(conversation, "It just went blank again")

    assert replies == []  # the bot stays quiet while a person has the chat
    relayed = await notices(desk, "customer_message")
    assert [(n["recipients"], n["text"]) for n in relayed] == [(["ana"], "It just went blank again")]


async def test_non_owner_cannot_say_or_resolve(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.agent_online("ben")
    conversation = await with_agent(desk, "ana")
    before = await texts(desk, conversation)

    said = await desk.staff("ben", "say", 1, "Hi, Ben here")
    resolved = await desk.staff("ben", "resolve", 1)

    assert replies_to(said, "ben") == ["CS-000001 is handled by Ana; accept it before you say."]
    assert replies_to(resolved, "ben") == ["CS-000001 is handled by Ana; accept it before you resolve."]
    assert await texts(desk, conversation) == before
    assert (await desk.case_of(conversation)).state is CaseState.WITH_AGENT


async def test_nobody_can_say_on_a_chat_not_yet_accepted(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await queue_customer(desk)

    actions = await desk.staff("ana", "say", 1, "Hello?")

    assert replies_to(actions, "ana") == ["CS-000001 is handled by nobody; accept it before you say."]
    assert "Hello?" not in await texts(desk, conversation)


async def test_manager_can_talk_on_any_open_case(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await with_agent(desk, "ana")

    await desk.staff("maya", "say", 1, "Hi, I'm Maya, the manager on duty.")

    last = (await desk.store.transcript(conversation))[-1]
    assert (last.sender, last.sender_name, last.text) == ("agent", "Maya", "Hi, I'm Maya, the manager on duty.")


# ----- internal notes -------------------------------------------------------------------------------------------


async def test_notes_with_tags_are_stored_and_never_shown_to_the_customer(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await with_agent(desk, "ana")

    actions = await desk.staff("ana", "note", 1, "Customer on old roster import #Roster #bug-1234", tags=["urgent"])

    assert customer_says(actions) == []
    notes = await desk.store.notes(1)
    assert [(n.author_id, n.text, n.tags) for n in notes] == [
        ("ana", "Customer on old roster import #Roster #bug-1234", ("urgent", "roster", "bug-1234"))
    ]
    assert notes[0].at == desk.clock.now()
    transcript = await desk.store.transcript(conversation)
    assert all("roster import" not in e.text for e in transcript)


async def test_note_typed_as_slash_command_in_the_chat_box_becomes_a_note(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await with_agent(desk, "ana")
    before = await desk.store.transcript(conversation)

    actions = await desk.staff("ana", "say", 1, "/note customer seems upset, be gentle #tone")

    assert customer_says(actions) == []
    assert [(n.text, n.tags) for n in await desk.store.notes(1)] == [("customer seems upset, be gentle #tone", ("tone",))]
    assert await desk.store.transcript(conversation) == before


async def test_notes_are_append_only_and_ordered(desk: Desk) -> None:
    await desk.agent_online("ana")
    await with_agent(desk, "ana")

    await desk.staff("ana", "note", 1, "first look: sso mismatch")
    await desk.staff("sam", "note", 1, "SME: known issue, see KB-12 #known")
    await desk.staff("ana", "note", 1, "advisoranswer")

    assert [(n.author_id, n.text) for n in await desk.store.notes(1)] == [
        ("ana", "first look: sso mismatch"),
        ("sam", "SME: known issue, see KB-12 #known"),
        ("ana", "advisoranswer"),
    ]


async def test_empty_note_is_refused(desk: Desk) -> None:
    await desk.agent_online("ana")
    await with_agent(desk, "ana")

    actions = await desk.staff("ana", "note", 1, "  ")

    assert replies_to(actions, "ana") == ["A note needs some text."]
    assert await desk.store.notes(1) == []


async def test_hash_inside_words_or_numbers_is_not_a_tag(desk: Desk) -> None:
    await desk.agent_online("ana")
    await with_agent(desk, "ana")

    await desk.staff("ana", "note", 1, "order#55 and issue #42 but #sso-login yes")

    assert (await desk.store.notes(1))[0].tags == ("sso-login",)


# ----- resolving ----------------------------------------------------------------------------------------------------


async def test_slash_resolve_resolves_asks_survey_and_frees_capacity(desk: Desk) -> None:
    await desk.agent_online("ben")
    conversation = await with_agent(desk, "ben")
    second = await queue_customer(desk)
    await desk.advance(5 * MINUTE)

    actions = await desk.staff("ben", "say", 1, "/resolve")

    assert customer_says(actions) == [
        "Ben has marked case CS-000001 resolved.",
        "How would you rate the help you got with case CS-000001? (1 = poor, 5 = excellent)",
    ]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.RESOLVED and case.resolution == "agent" and case.resolved_at == desk.clock.now()
    world, _ = await desk.store.load_world(now=desk.clock.now(), conversation_id=None, case_ids=[])
    assert world.recent_handle_times == [5 * MINUTE]
    assert world.active_chats.get("ben", 0) == 0
    await desk.staff("ben", "accept", 2)
    assert (await desk.case_of(second)).agent_id == "ben"


# ----- escalation ----------------------------------------------------------------------------------------------------


async def test_escalate_tier2_tells_customer_notifies_tier2_and_frees_capacity(desk: Desk) -> None:
    await desk.agent_online("ben")
    conversation = await with_agent(desk, "ben")
    second = await queue_customer(desk)

    actions = await desk.staff("ben", "say", 1, "/escalate tier2")

    assert customer_says(actions) == [
        "I've escalated case CS-000001 to our Tier II team, who handle issues that need more investigation. "
        "They'll contact you here or by email."
    ]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.ESCALATED and case.tier == 2 and case.agent_id is None
    tier2 = await notices(desk, "tier2")
    assert [(n["recipients"], n["text"]) for n in tier2] == [
        (["tara"], f"CS-000001 was escalated to Tier II by Ben: {DETAILED[:160].rstrip()}…")
    ]
    # Ben's slot is free again: he is told about the waiting chat and can take it
    assert (await notices(desk, "queue_new"))[-1]["recipients"] == ["ben"]
    await desk.staff("ben", "accept", 2)
    assert (await desk.case_of(second)).agent_id == "ben"


async def test_escalating_twice_to_tier2_is_refused(desk: Desk) -> None:
    await desk.agent_online("ana")
    await with_agent(desk, "ana")
    await desk.staff("ana", "escalate", 1, "tier2")
    await desk.staff("tara", "accept", 1)

    actions = await desk.staff("tara", "escalate", 1, "tier2")

    assert replies_to(actions, "tara") == ["CS-000001 is already with Tier II."]


async def test_escalate_manager_alerts_the_manager_on_duty(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await with_agent(desk, "ana")

    actions = await desk.staff("ana", "say", 1, "/escalate manager")

    assert replies_to(actions, "ana") == ["The manager on duty has been alerted."]
    assert customer_says(actions) == []
    alerts = await notices(desk, "manager")
    assert len(alerts) == 1 and alerts[0]["recipients"] == ["maya"] and alerts[0]["case_id"] == 1
    assert "CS-000001" in alerts[0]["text"] and alerts[0]["text"] == "Ana asked for a manager's help on CS-000001."
    assert (await desk.case_of(conversation)).state is CaseState.WITH_AGENT


async def test_agent_escalation_to_manager_does_not_claim_the_customer_asked(desk: Desk) -> None:
    await desk.agent_online("ana")
    await with_agent(desk, "ana")

    await desk.staff("ana", "escalate", 1, "manager")

    alert = (await notices(desk, "manager"))[0]
    assert "customer" not in alert["text"].lower()


async def test_escalate_with_unknown_target_explains_usage(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await with_agent(desk, "ana")

    actions = await desk.staff("ana", "escalate", 1, "ceo")

    assert replies_to(actions, "ana") == ["Use /escalate tier2 or /escalate manager."]
    assert (await desk.case_of(conversation)).state is CaseState.WITH_AGENT


REMINDER = "A quick update on case CS-000001: we're still working on it with our development team. You haven't been forgotten!"


async def test_devwait_tells_customer_and_sends_a_status_reminder_after_a_day(desk: Desk) -> None:
    await desk.agent_online("ben")
    conversation = await with_agent(desk, "ben")

    actions = await desk.staff("ben", "say", 1, "/devwait")

    assert customer_says(actions) == [
        "Our team is working with the development team on case CS-000001. We'll keep you updated until it's resolved."
    ]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.WAITING_ON_DEVELOPMENT and case.agent_id == "ben"
    await desk.advance(DAY - 1)
    assert REMINDER not in await texts(desk, conversation)
    await desk.advance(1)
    assert (await texts(desk, conversation)).count(REMINDER) == 1


async def test_devwait_reminders_repeat_every_day(desk: Desk) -> None:
    await desk.agent_online("ben")
    conversation = await with_agent(desk, "ben")
    await desk.staff("ben", "devwait", 1)

    await desk.advance(DAY)
    await desk.advance(DAY)
    await desk.advance(DAY)

    assert (await texts(desk, conversation)).count(REMINDER) == 3


async def test_resolving_stops_development_reminders(desk: Desk) -> None:
    await desk.agent_online("ben")
    conversation = await with_agent(desk, "ben")
    await desk.staff("ben", "devwait", 1)
    await desk.advance(DAY / 2)

    actions = await desk.staff("ben", "resolve", 1)  # the owner keeps a case waiting on development

    assert customer_says(actions)[0] == "Ben has marked case CS-000001 resolved."
    await desk.advance(3 * DAY)
    assert REMINDER not in await texts(desk, conversation)
    assert (await desk.case_of(conversation)).state is CaseState.CLOSED  # the close timer ran


async def test_devwait_frees_the_live_chat_slot(desk: Desk) -> None:
    await desk.agent_online("ben")
    await with_agent(desk, "ben")
    second = await queue_customer(desk)

    await desk.staff("ben", "devwait", 1)
    actions = await desk.staff("ben", "accept", 2)

    assert customer_says(actions) == ["Ben has joined the chat and will help you from here."]
    assert (await desk.case_of(second)).agent_id == "ben"


async def test_customer_message_while_waiting_on_development_is_added_and_relayed(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await with_agent(desk, "ana")
    await desk.staff("ana", "devwait", 1)

    replies = await desk.say(conversation, "Any news?")

    assert replies == ["Thanks, I've added that to case CS-000001; the team will see it."]
    assert (await notices(desk, "customer_message"))[-1]["recipients"] == ["ana"]


async def test_manager_resolving_a_queued_case_moves_the_queue(desk: Desk) -> None:
    await desk.agent_online("ana")
    await queue_customer(desk)
    second = await queue_customer(desk)

    await desk.staff("maya", "resolve", 1)

    assert (await desk.store.case(1)).state is CaseState.RESOLVED  # type: ignore[union-attr]
    assert (await texts(desk, second))[-1].startswith("You're now number 1 in the queue")


# ----- status and presence ------------------------------------------------------------------------------------------


async def test_status_away_stops_new_chat_offers(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.agent_online("ben")

    actions = await desk.staff("ana", "say", None, "/status away")

    assert replies_to(actions, "ana") == ["You are now away."]
    await queue_customer(desk)
    assert [n["recipients"] for n in await notices(desk, "queue_new")] == [["ben"]]


async def test_everyone_away_sends_customers_to_the_offline_path(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.staff("ana", "status", text="away")

    conversation = await queue_customer(desk)

    assert (await desk.case_of(conversation)).state is CaseState.TICKETED
    assert await notices(desk, "queue_new") == []


async def test_coming_back_available_hears_about_waiting_chats(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.agent_online("ben")
    await queue_customer(desk)
    await desk.staff("ana", "status", text="away")

    actions = await desk.staff("ana", "status", text="Available")

    assert replies_to(actions, "ana") == ["You are now available."]
    assert [(n.recipients, n.text) for n in actions if isinstance(n, NotifyStaff) and n.kind == "queue_new"] == [
        (("ana",), "1 chat(s) waiting; the longest is CS-000001.")
    ]


async def test_bad_status_explains_usage(desk: Desk) -> None:
    actions = await desk.staff("ana", "status", text="busy")

    assert replies_to(actions, "ana") == ["Use /status available or /status away."]


async def test_available_but_offline_agent_does_not_count(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.runtime.handle(StaffPresence("ana", False))

    conversation = await queue_customer(desk)

    assert (await desk.case_of(conversation)).state is CaseState.TICKETED
    agents = {a.id: a for a in (await desk.store.load_world(now=desk.clock.now(), conversation_id=None, case_ids=[]))[0].agents.values()}
    assert agents["ana"].status is AgentStatus.AVAILABLE and agents["ana"].online is False

    await desk.runtime.handle(StaffPresence("ana", True))  # console reconnects
    later = await queue_customer(desk)
    assert (await desk.case_of(later)).state is CaseState.QUEUED


# ----- help and unknown commands -----------------------------------------------------------------------------------


async def test_unknown_slash_command_gets_help_for_that_staff_member_only(desk: Desk) -> None:
    await desk.agent_online("ana")
    conversation = await with_agent(desk, "ana")
    before = await texts(desk, conversation)

    actions = await desk.staff("ana", "say", 1, "/xyz please")

    help_text = desk.settings.spiels.help_staff
    staff_messages = [a for a in actions if isinstance(a, NotifyStaff)]
    assert [(m.recipients, m.kind, m.text) for m in staff_messages] == [(("ana",), "reply", f"Unknown command 'xyz'. {help_text}")]
    assert await texts(desk, conversation) == before


async def test_help_command_replies_with_staff_help(desk: Desk) -> None:
    actions = await desk.staff("tara", "help")

    assert replies_to(actions, "tara") == [desk.settings.spiels.help_staff]


async def test_case_command_describes_the_case(desk: Desk) -> None:
    await desk.agent_online("ana")
    await with_agent(desk, "ana")

    actions = await desk.staff("ana", "say", 1, "/case")

    assert replies_to(actions, "ana") == [
        "CS-000001 · with agent · Tier 1 · Ana · account_id: user ID 48213; browser: Chrome; "
        "email: jo@example.com; error: Page failed to load; steps: I clicked Gradebook and then Week 3."
    ]
