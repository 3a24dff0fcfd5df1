"""SME consults on a real desk (SOP 003): routing, claiming, one consult per contact, holds, spiels.

Roster: tests/harness.py's ROSTER (Ana and Ben are Tier I agents, Maya the manager, Sam an SME) plus
Sky (SME in the same group as Sam) and Lee (SME in another group). The agent keeps the customer; the
consult is a side thread the customer never sees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.settings import build_settings
from bot.config import Settings
from bot.domain import Case, CaseState, Consult, ConsultState
from bot.events import NotifyStaff, Say
from tests.harness import ROSTER, Desk, open_desk

MINUTE = 60.0
DETAILED = (
    "My gradebook page is blank. My user ID is 48213, I use Chrome, my email is jo@example.com. "
    'The error says "Page failed to load". Steps: I clicked Gradebook and then Week 3.'
)
CONSULT_ROSTER: list[dict[str, Any]] = [
    *ROSTER,
    {"id": "sky", "name": "Sky", "role": "sme"},
    {"id": "lee", "name": "Lee", "role": "sme"},
]
SME_GROUPS: list[dict[str, Any]] = [
    {"name": "accounts", "classifications": ["Accounts", "Billing"], "members": ["sam", "sky"]},
    {"name": "gradebook", "classifications": ["Gradebook"], "members": ["lee"]},
]
NOTES = "Customer's invoice INV-7 is missing from the billing page; I cleared cache and checked the account."
OPENING = "Thank you for contacting the SME Support Chat, my name is Sam. Please stay connected while I review your question."
CLOSING = "I am glad I was able to assist you today. Thank you for contacting the SME Support Chat and have a great rest of your day!"
PAUSE = "I just received a live contact and need to disconnect. Thank you."
HOLDING = "Thanks for your patience. I need a moment to look into this for you; please stay with me."


def consult_settings(**sections: Any) -> Settings:
    return build_settings({"roster": CONSULT_ROSTER, "sme_groups": SME_GROUPS, **sections})


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    desk = await open_desk(tmp_path, consult_settings())
    yield desk
    await desk.store.close()


# ----- helpers ----------------------------------------------------------------------------------------


async def accepted(desk: Desk, agent: str = "ana") -> str:
    """A customer whose case (id 1 for the first) is accepted by `agent`; returns the conversation id."""
    await desk.agent_online(agent)
    conversation = await desk.customer()
    await desk.say(conversation, DETAILED)
    case = await desk.case_of(conversation)
    await desk.staff(agent, "accept", case.id)
    case = await desk.case_of(conversation)
    assert case.state is CaseState.WITH_AGENT and case.agent_id == agent
    return conversation


async def start(
    desk: Desk, case_id: int = 1, agent: str = "ana", extra: dict[str, str] | None = None, **fields: str
) -> list[Any]:
    """The consult form: Accounts with NOTES unless `fields` say otherwise; `extra` for names like "OJT class"."""
    form = {"classification": "Accounts", "notes": NOTES, **fields, **(extra or {})}
    return await desk.staff(agent, "sme", case_id, fields=form)


async def claimed(desk: Desk, case_id: int = 1, sme: str = "sam") -> None:
    await start(desk, case_id)
    await desk.staff(sme, "claim", case_id)
    consult = (await consults(desk, case_id))[-1]
    assert consult.state is ConsultState.ACTIVE and consult.sme_id == sme


async def stored_case(desk: Desk, case_id: int = 1) -> Case:
    found = await desk.store.case(case_id)
    assert found is not None
    return found


async def consults(desk: Desk, case_id: int = 1) -> list[Consult]:
    return (await stored_case(desk, case_id)).consults


def replies_to(actions: list[Any], staff_id: str) -> list[str]:
    return [a.text for a in actions if isinstance(a, NotifyStaff) and a.kind == "reply" and staff_id in a.recipients]


def notified(actions: list[Any], kind: str) -> list[NotifyStaff]:
    return [a for a in actions if isinstance(a, NotifyStaff) and a.kind == kind]


def customer_says(actions: list[Any]) -> list[Say]:
    return [a for a in actions if isinstance(a, Say)]


async def thread(desk: Desk, case_id: int = 1, number: int | None = None) -> list[tuple[str, str]]:
    """(author, text) of the consult messages stored with the case."""
    rows = await desk.store.records("consult_messages", case_id)
    return [(r["author_id"], r["text"]) for r in rows if number is None or r["consult"] == number]


async def notices(desk: Desk, kind: str) -> list[dict[str, Any]]:
    await desk.runtime.deliver_outbox()
    return desk.notices(kind)


async def wait(desk: Desk, seconds: float, step: float = 10.0) -> None:
    """Lets `seconds` of fake time pass in small steps, so every timer fires at its due time."""
    left = seconds
    while left > 0:
        await desk.advance(min(step, left))
        left -= min(step, left)


async def customer_texts(desk: Desk, conversation: str) -> list[str]:
    return [e.text for e in await desk.store.transcript(conversation)]


# ----- starting a consult -------------------------------------------------------------------------------


async def test_only_the_agent_who_owns_the_case_can_consult(desk: Desk) -> None:
    await desk.agent_online("ana")
    await desk.agent_online("ben")
    conversation = await desk.customer()
    await desk.say(conversation, DETAILED)  # queued, nobody has accepted it

    actions = await start(desk, agent="ana")
    assert replies_to(actions, "ana") == ["CS-000001 is handled by nobody; accept it before you sme."]

    await desk.staff("ana", "accept", 1)
    actions = await start(desk, agent="ben")
    assert replies_to(actions, "ben") == ["CS-000001 is handled by Ana; accept it before you sme."]
    actions = await start(desk, agent="maya")  # a manager may act on any open case, but does not own this one
    assert replies_to(actions, "maya") == ["Accept CS-000001 before consulting an SME about it."]
    actions = await start(desk, agent="sam")
    assert replies_to(actions, "sam") == ["Your role (sme) can't sme a customer chat."]

    assert (await desk.case_of(conversation)).consults == []
    assert notified(actions, "consult_new") == []


async def test_unknown_classification_gets_the_configured_ones(desk: Desk) -> None:
    await accepted(desk)

    for classification in ("Refunds", ""):
        actions = await start(desk, classification=classification)
        assert replies_to(actions, "ana") == [
            "Pick a classification so the right SME group gets it: Accounts; Billing; Gradebook."
        ]
        assert notified(actions, "consult_new") == []
    assert (await stored_case(desk, 1)).consults == []


async def test_notes_are_required(desk: Desk) -> None:
    await accepted(desk)

    actions = await start(desk, notes="   ")

    assert replies_to(actions, "ana") == [
        "Write clear notes for the SME: what the customer needs and what you have tried."
    ]
    assert notified(actions, "consult_new") == []
    assert (await stored_case(desk, 1)).consults == []


async def test_consult_is_routed_to_every_member_of_the_classifications_group(desk: Desk) -> None:
    await accepted(desk)

    actions = await start(desk, classification="billing", extra={"OJT class": "OJT-12", "ASAC": "A-77", "Order ID(s)": " "})

    [new] = notified(actions, "consult_new")
    assert new.recipients == ("sam", "sky")  # the accounts group, never Lee (gradebook) or the agent
    assert new.case_id == 1 and new.consult == 1
    assert new.text == (
        f"Consult CS-000001/1 on CS-000001 · billing · from Ana: {NOTES}\nOJT class: OJT-12\nASAC: A-77\nCase ID: CS-000001"
    )
    [consult] = await consults(desk, 1)
    assert consult.state is ConsultState.WAITING and consult.sme_id is None
    assert consult.group == "accounts" and consult.agent_id == "ana" and consult.notes == NOTES
    assert consult.fields == {"OJT class": "OJT-12", "ASAC": "A-77"}  # blank fields are left out
    assert consult.created_at == desk.clock.now()
    assert await thread(desk) == [("ana", f"{NOTES}\nOJT class: OJT-12\nASAC: A-77\nCase ID: CS-000001")]
    assert [n["kind"] for n in await notices(desk, "consult_new")] == ["consult_new"]


async def test_typed_consult_command_with_extra_fields(desk: Desk) -> None:
    conversation = await accepted(desk)

    actions = await desk.staff("ana", "say", 1, f"/sme Gradebook | {NOTES} | OJT class: 4")

    [new] = notified(actions, "consult_new")
    assert new.recipients == ("lee",)
    assert "OJT class: 4" in new.text and "Case ID: CS-000001" in new.text
    assert customer_says(actions) == []  # a typed command is never sent to the customer
    assert not any("/sme" in t for t in await customer_texts(desk, conversation))
    [consult] = await consults(desk, 1)
    assert consult.classification == "Gradebook" and consult.group == "gradebook"
    assert consult.fields == {"OJT class": "4"}


async def test_agent_cannot_pick_the_sme(desk: Desk) -> None:
    """There is no such field: a "preferred SME" on the form is ignored and the whole group hears it."""
    await accepted(desk)

    actions = await start(desk, sme="sky", sme_id="sky", assignee="sky")

    [new] = notified(actions, "consult_new")
    assert new.recipients == ("sam", "sky")
    [consult] = await consults(desk, 1)
    assert consult.sme_id is None and consult.fields == {}


async def test_sme_outside_the_group_cannot_claim(desk: Desk) -> None:
    await accepted(desk)
    await start(desk)

    for outsider in ("lee", "ana"):
        actions = await desk.staff(outsider, "claim", 1)
        assert replies_to(actions, outsider) == ["Consult CS-000001/1 is for the accounts SME group."]
    consult = (await consults(desk, 1))[0]
    assert consult.state is ConsultState.WAITING and consult.sme_id is None


async def test_first_sme_to_claim_owns_the_consult(desk: Desk) -> None:
    await accepted(desk)
    await start(desk)
    await desk.advance(45)

    actions = await desk.staff("sam", "claim", 1)

    [claim] = notified(actions, "consult_claimed")
    assert set(claim.recipients) == {"sam", "sky", "ana"}
    assert claim.text == "Sam claimed consult CS-000001/1 on CS-000001."
    consult = (await consults(desk, 1))[0]
    assert consult.state is ConsultState.ACTIVE and consult.sme_id == "sam"
    assert consult.claimed_at == desk.clock.now() and consult.claimed_at - consult.created_at == 45

    actions = await desk.staff("sky", "claim", 1)

    assert replies_to(actions, "sky") == ["Sam already claimed consult CS-000001/1."]
    assert notified(actions, "consult_claimed") == []
    assert (await stored_case(desk, 1)).consults[0].sme_id == "sam"


async def test_claim_without_a_consult_is_refused(desk: Desk) -> None:
    await accepted(desk)

    actions = await desk.staff("sam", "claim", 1)

    assert replies_to(actions, "sam") == ["CS-000001 has no consult waiting."]


async def test_bot_posts_the_opening_spiel_with_the_smes_name(desk: Desk) -> None:
    await accepted(desk)
    await start(desk)

    actions = await desk.staff("sam", "claim", 1)

    [opening] = notified(actions, "consult_message")
    assert opening.text == OPENING
    assert set(opening.recipients) == {"ana", "sam"} and opening.consult == 1
    assert (await thread(desk))[-1][1] == OPENING


async def test_opening_spiel_is_handed_to_the_sme_when_the_bot_does_not_send_it(tmp_path: Path) -> None:
    desk = await open_desk(tmp_path, consult_settings(consult={"bot_sends_opening": False}))
    try:
        await accepted(desk)
        await start(desk)

        actions = await desk.staff("sam", "claim", 1)

        assert replies_to(actions, "sam") == [f'Send your opening: "{OPENING}"']
        assert notified(actions, "consult_message") == []
        assert OPENING not in [text for _, text in await thread(desk)]
        await desk.staff("sam", "consult", 1, OPENING)  # the SME sends it themselves
        assert (await thread(desk))[-1] == ("sam", OPENING)
    finally:
        await desk.store.close()


async def test_only_the_agent_and_the_claiming_sme_talk_in_the_consult(desk: Desk) -> None:
    await accepted(desk)
    await claimed(desk)

    actions = await desk.staff("sky", "consult", 1, "I can take it too")

    assert replies_to(actions, "sky") == ["Only Ana and Sam talk in this consult."]
    assert "I can take it too" not in [text for _, text in await thread(desk)]

    actions = await desk.staff("sam", "consult", 1, "Which invoice number?")
    [line] = notified(actions, "consult_message")
    assert line.author == "sam" and set(line.recipients) == {"ana", "sam"}
    actions = await desk.staff("ana", "consult", 1, "INV-7")
    assert [a.text for a in notified(actions, "consult_message")] == ["INV-7"]
    assert (await thread(desk))[-2:] == [("sam", "Which invoice number?"), ("ana", "INV-7")]


async def test_consult_messages_need_a_claimed_consult(desk: Desk) -> None:
    await accepted(desk)
    await start(desk)

    actions = await desk.staff("ana", "consult", 1, "anyone there?")

    assert replies_to(actions, "ana") == ["CS-000001 has no consult in progress."]


# ----- the customer while the agent consults ---------------------------------------------------------------


async def test_agent_is_offered_the_holding_line(desk: Desk) -> None:
    await accepted(desk)

    actions = await start(desk)

    [suggestion] = notified(actions, "hold_suggestion")
    assert suggestion.recipients == ("ana",)
    assert suggestion.text == f'While you wait for the SME, you can send the customer: "{HOLDING}"'


async def test_hold_sends_the_holding_line_without_mentioning_an_expert(desk: Desk) -> None:
    conversation = await accepted(desk)
    await start(desk)

    actions = await desk.staff("ana", "hold", 1)

    [line] = customer_says(actions)
    assert line.text == HOLDING and line.sender == "agent" and line.sender_name == "Ana"
    for word in ("expert", "sme", "specialist", "consult", "sam"):
        assert word not in line.text.lower()
    assert (await desk.case_of(conversation)).on_hold_since == desk.clock.now()


async def test_hold_check_in_reminders_every_two_minutes(desk: Desk) -> None:
    await accepted(desk)
    await claimed(desk)
    await desk.staff("ana", "hold", 1)

    await desk.advance(2 * MINUTE - 1)
    assert await notices(desk, "hold_checkin") == []
    await desk.advance(1)
    [first] = await notices(desk, "hold_checkin")
    assert first["recipients"] == ["ana"]
    assert first["text"] == "The customer on CS-000001 has been on hold for 2:00: please check in with them."

    await desk.advance(2 * MINUTE - 1)
    assert len(await notices(desk, "hold_checkin")) == 1
    await desk.advance(1)
    assert [n["text"] for n in await notices(desk, "hold_checkin")][1:] == [
        "The customer on CS-000001 has been on hold for 4:00: please check in with them."
    ]


async def test_checking_in_with_the_customer_restarts_the_reminder(desk: Desk) -> None:
    conversation = await accepted(desk)
    await claimed(desk)
    await desk.staff("ana", "hold", 1)
    await desk.advance(MINUTE)

    await desk.staff("ana", "say", 1, "Still checking, thanks for waiting.")

    assert (await desk.case_of(conversation)).on_hold_since is not None  # still waiting on the SME
    await desk.advance(2 * MINUTE - 1)
    assert await notices(desk, "hold_checkin") == []
    await desk.advance(1)
    assert len(await notices(desk, "hold_checkin")) == 1


async def test_reminders_stop_when_the_hold_ends(desk: Desk) -> None:
    conversation = await accepted(desk)
    await claimed(desk)
    await desk.staff("ana", "hold", 1)
    await desk.advance(MINUTE)
    await desk.staff("sam", "consult", 1, "Re-sync the invoice from the billing page.")
    await desk.staff("sam", "endconsult", 1)

    await desk.staff("ana", "say", 1, "Thanks for waiting! Please re-sync the invoice from the billing page.")

    assert (await desk.case_of(conversation)).on_hold_since is None
    await desk.runtime.deliver_outbox()
    await wait(desk, 10 * MINUTE)
    assert await notices(desk, "hold_checkin") == []


async def test_reminders_stop_when_the_case_is_resolved_on_hold(desk: Desk) -> None:
    await accepted(desk)
    await claimed(desk)
    await desk.staff("ana", "hold", 1)
    await desk.advance(MINUTE)

    await desk.staff("ana", "resolve", 1)

    await wait(desk, 10 * MINUTE)
    assert await notices(desk, "hold_checkin") == []
    assert (await stored_case(desk, 1)).on_hold_since is None


async def test_agent_is_told_once_when_no_sme_claims_within_two_minutes(desk: Desk) -> None:
    await accepted(desk)
    await start(desk)

    await desk.advance(2 * MINUTE - 1)
    assert await notices(desk, "consult_unclaimed") == []
    await desk.advance(1)
    [unclaimed] = await notices(desk, "consult_unclaimed")
    assert unclaimed["recipients"] == ["ana"]
    assert unclaimed["text"] == (
        "No SME has claimed consult CS-000001/1 after 2:00. Let the customer know you're still looking into it and "
        "offer a call back."
    )

    await wait(desk, 10 * MINUTE)
    assert len(await notices(desk, "consult_unclaimed")) == 1


async def test_no_unclaimed_notice_when_claimed_at_one_fifty_nine(desk: Desk) -> None:
    await accepted(desk)
    await start(desk)
    await desk.advance(2 * MINUTE - 1)

    await desk.staff("sam", "claim", 1)

    await wait(desk, 10 * MINUTE)
    assert await notices(desk, "consult_unclaimed") == []


async def test_still_looking_tells_the_customer_and_offers_a_call_back(desk: Desk) -> None:
    conversation = await accepted(desk)
    await start(desk)
    await desk.advance(2 * MINUTE)

    actions = await desk.staff("ana", "stilllooking", 1)

    [line] = customer_says(actions)
    assert line.text == (
        "Thanks for waiting. I'm still looking into this for you. If you'd rather not wait, I can arrange a "
        "call back: just reply 'call me'."
    )
    assert line.sender == "agent" and line.sender_name == "Ana"
    assert "expert" not in line.text.lower() and "sme" not in line.text.lower()

    await desk.say(conversation, "call me")  # taking up the offer books the call back
    assert (await desk.case_of(conversation)).callback_requested


# ----- one consult per contact ----------------------------------------------------------------------------


async def test_another_consult_while_one_is_open_is_refused(desk: Desk) -> None:
    await accepted(desk)
    await start(desk)

    actions = await start(desk, classification="Gradebook", reason="different topic")

    assert replies_to(actions, "ana") == ["CS-000001 already has an open consult."]
    assert len((await stored_case(desk, 1)).consults) == 1


async def test_second_consult_on_the_same_contact_needs_a_reason(desk: Desk) -> None:
    await accepted(desk)
    await claimed(desk)
    await desk.staff("sam", "endconsult", 1)

    actions = await start(desk, classification="Gradebook")

    assert replies_to(actions, "ana") == [
        "CS-000001 already had an SME consult on this contact (use SME support once per contact). To open another, "
        "confirm with a reason."
    ]
    assert notified(actions, "consult_new") == []
    assert len((await stored_case(desk, 1)).consults) == 1

    actions = await start(desk, classification="Gradebook", reason="The customer now also has a gradebook error")

    [new] = notified(actions, "consult_new")
    assert new.recipients == ("lee",) and "CS-000001/2" in new.text
    second = (await consults(desk, 1))[1]
    assert second.number == 2 and second.repeat_reason == "The customer now also has a gradebook error"
    assert (await stored_case(desk, 1)).consults[0].repeat_reason == ""


async def test_typed_second_consult_with_a_reason(desk: Desk) -> None:
    await accepted(desk)
    await claimed(desk)
    await desk.staff("sam", "endconsult", 1)

    await desk.staff("ana", "say", 1, "/sme Billing | Refund still pending | reason: SME asked me to come back after the sync")

    both = await consults(desk, 1)
    assert len(both) == 2 and both[1].repeat_reason == "SME asked me to come back after the sync"


async def test_paused_consult_lets_the_agent_consult_again_without_a_reason(desk: Desk) -> None:
    await accepted(desk)
    await claimed(desk)
    await desk.advance(MINUTE)

    actions = await desk.staff("ana", "pause", 1)

    [line] = notified(actions, "consult_message")
    assert line.text == PAUSE and line.author == "ana" and set(line.recipients) == {"ana", "sam"}
    first = (await consults(desk, 1))[0]
    assert first.state is ConsultState.ENDED and first.end_reason == "paused" and first.ended_at == desk.clock.now()

    await desk.advance(5 * MINUTE)
    actions = await start(desk)

    assert len(notified(actions, "consult_new")) == 1
    second = (await consults(desk, 1))[1]
    assert second.state is ConsultState.WAITING and second.repeat_reason == ""


async def test_sme_ends_the_consult_with_the_closing_spiel(desk: Desk) -> None:
    await accepted(desk)
    await claimed(desk)
    await desk.staff("ana", "consult", 1, "How do I re-sync an invoice?")
    await desk.staff("sam", "consult", 1, "Billing page → Invoices → Re-sync.")
    await desk.staff("ana", "consult", 1, "Got it, thank you!")

    actions = await desk.staff("sam", "endconsult", 1)

    [closing] = notified(actions, "consult_message")
    assert closing.text == CLOSING and closing.author == "sam" and set(closing.recipients) == {"ana", "sam"}
    assert (await thread(desk))[-1] == ("sam", CLOSING)
    consult = (await consults(desk, 1))[0]
    assert consult.state is ConsultState.ENDED and consult.end_reason == "answered"
    assert consult.ended_at == desk.clock.now()
    actions = await desk.staff("ana", "consult", 1, "one more thing")
    assert replies_to(actions, "ana") == ["CS-000001 has no consult in progress."]


@pytest.mark.parametrize(
    ("request_text", "pointer"),
    [
        ("Can you open a bug ticket for the export?", "SMEs don't open bug tickets: please follow the current bug process."),
        (
            "The customer is angry, can you take this escalation?",
            "SMEs don't take escalations or transfers: use the current process to reach a Team Leader or Supervisor.",
        ),
        (
            "Can I transfer the customer to you?",
            "SMEs don't take escalations or transfers: use the current process to reach a Team Leader or Supervisor.",
        ),
        ("Could you approve the credit of $20?", "SMEs don't process or approve credit requests: please follow the credit policy."),
        ("Can you give them a coupon for the trouble?", "SMEs don't issue coupons or vouchers."),
        (
            "Please lift the restriction on their selling account",
            "SMEs don't remove restrictions or process appeals (selling restrictions, holds, suspensions).",
        ),
    ],
)
async def test_requests_outside_sme_scope_get_a_pointer(desk: Desk, request_text: str, pointer: str) -> None:
    await accepted(desk)
    await claimed(desk)

    actions = await desk.staff("ana", "consult", 1, request_text)

    assert [(a.author, a.text) for a in notified(actions, "consult_message")] == [("ana", request_text), ("bot", pointer)]
    assert (await thread(desk))[-2:] == [("ana", request_text), ("bot", pointer)]


async def test_an_ordinary_question_gets_no_pointer(desk: Desk) -> None:
    await accepted(desk)
    await claimed(desk)

    actions = await desk.staff("ana", "consult", 1, "Where do I see the invoice history for this account?")

    assert [a.author for a in notified(actions, "consult_message")] == ["ana"]


async def test_an_sme_message_gets_no_pointer(desk: Desk) -> None:
    await accepted(desk)
    await claimed(desk)

    actions = await desk.staff("sam", "consult", 1, "No need for a coupon here, just re-sync it.")

    assert [a.author for a in notified(actions, "consult_message")] == ["sam"]


async def test_consult_ends_when_the_case_is_resolved(desk: Desk) -> None:
    await accepted(desk)
    await claimed(desk)
    await desk.staff("sam", "consult", 1, "Re-sync it.")
    await desk.advance(MINUTE)

    await desk.staff("ana", "resolve", 1)

    consult = (await consults(desk, 1))[0]
    assert consult.state is ConsultState.ENDED and consult.end_reason == "contact ended"
    assert consult.ended_at == desk.clock.now()
    posted = len(await thread(desk))
    await wait(desk, 10 * MINUTE)  # no idle prompts in a consult that has ended
    assert len(await thread(desk)) == posted
    assert await notices(desk, "consult_idle") == []


async def test_waiting_consult_ends_when_the_case_is_resolved(desk: Desk) -> None:
    await accepted(desk)
    await start(desk)

    await desk.staff("ana", "resolve", 1)

    consult = (await consults(desk, 1))[0]
    assert consult.state is ConsultState.ENDED and consult.end_reason == "contact ended"
    await wait(desk, 10 * MINUTE)
    assert await notices(desk, "consult_unclaimed") == []
    actions = await desk.staff("sam", "claim", 1)
    assert replies_to(actions, "sam") == ["CS-000001 has no consult waiting."]


async def test_consult_ends_when_the_case_is_escalated(desk: Desk) -> None:
    await accepted(desk)
    await claimed(desk)

    await desk.staff("ana", "escalate", 1, "tier2")

    consult = (await consults(desk, 1))[0]
    assert consult.state is ConsultState.ENDED and consult.end_reason == "contact ended"


async def test_consult_details_are_kept_on_the_case(desk: Desk) -> None:
    await accepted(desk)
    started = desk.clock.now()
    await start(desk, extra={"OJT class": "OJT-3"})
    await desk.advance(90)
    await desk.staff("sam", "claim", 1)
    await desk.advance(30)
    await desk.staff("ana", "consult", 1, "Where is INV-7?")
    await desk.advance(150)
    await desk.staff("sam", "endconsult", 1)

    [consult] = await consults(desk, 1)
    assert consult.number == 1 and consult.classification == "Accounts" and consult.group == "accounts"
    assert consult.agent_id == "ana" and consult.sme_id == "sam" and consult.notes == NOTES
    assert consult.fields == {"OJT class": "OJT-3"}
    assert consult.created_at == started
    assert consult.claimed_at is not None and consult.claimed_at - consult.created_at == 90  # wait for an SME
    assert consult.ended_at is not None and consult.ended_at - consult.claimed_at == 180  # time with the SME
    assert consult.end_reason == "answered"


async def test_customer_never_sees_anything_of_the_consult(desk: Desk) -> None:
    conversation = await accepted(desk)
    await desk.staff("ana", "say", 1, "Let me look into that invoice for you.")
    await start(desk, extra={"OJT class": "OJT-3"})
    await desk.staff("ana", "hold", 1)
    await desk.advance(2 * MINUTE)
    await desk.staff("ana", "stilllooking", 1)
    await desk.staff("sam", "claim", 1)
    await desk.staff("ana", "consult", 1, "Can you open a bug ticket for the missing invoice?")
    await desk.staff("sam", "consult", 1, "Re-sync from the Invoices tab; the secret word is zebra.")
    await desk.staff("ana", "consult", 1, "Thanks, that's all I needed!")
    await desk.staff("sam", "endconsult", 1)
    await desk.staff("ana", "say", 1, "Please re-sync the invoice from the Invoices tab.")
    await desk.say(conversation, "That worked, thanks!")
    await desk.staff("ana", "resolve", 1)

    consult_lines = [text for _, text in await thread(desk)]
    assert len(consult_lines) >= 6
    transcript = await desk.store.transcript(conversation)
    seen = "\n".join(f"{e.sender_name} {e.text}" for e in transcript)
    for secret in (NOTES, "OJT-3", "zebra", OPENING, CLOSING, "bug ticket", "Thanks, that's all I needed!"):
        assert secret not in seen
    for word in ("Sam", "SME", "expert", "consult"):
        assert word.lower() not in seen.lower()
    assert HOLDING in seen  # the customer did get the holding line
    await desk.runtime.deliver_outbox()
    to_customer = [p for p in desk.outlet.delivered if p["type"] == "say" and p["conversation_id"] == conversation]
    assert to_customer and not any(line in p["text"] for p in to_customer for line in consult_lines)
