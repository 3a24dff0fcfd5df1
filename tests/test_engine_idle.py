"""The idle-time SOP (SOP 003) on a real desk with a fake clock.

In a consult the SME waits on the agent: after an SME message, 2:00 of agent silence brings
"Hi Ana, just checking you're with me?", 1:50 later the SME is warned, and at 4:00 in total the end
message and follow-up end the consult. In customer chats the customer is the one who goes quiet after
the agent spoke: the same prompt, warning (to the agent) and end. A sign-off ("thanks, bye") is closed
at once at the 2:00 mark, typing holds the prompt back for up to 2:00, and a customer on hold is never
prompted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import CaseState, ConsultState, SurveyStage
from bot.events import CustomerTyping
from tests.harness import Desk, open_desk
from tests.test_engine_consult import (
    CLOSING,
    accepted,
    claimed,
    consult_settings,
    consults,
    notices,
    start,
    stored_case,
    thread,
    wait,
)

MINUTE = 60.0
PROMPT_ANA = "Hi Ana, just checking you're with me?"
PROMPT_CUSTOMER = "Hi there, just checking you're with me?"
IDLE_END = "I haven't heard from you so I'm going to end this chat."
IDLE_FOLLOWUP = "If you still require assistance, please don't hesitate to contact us again."
CHAT_CLOSING = "Thank you for contacting us. Have a great rest of your day!"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    desk = await open_desk(tmp_path, consult_settings())
    yield desk
    await desk.store.close()


async def texts(desk: Desk, conversation: str) -> list[str]:
    return [e.text for e in await desk.store.transcript(conversation)]


async def consult_lines(desk: Desk) -> list[tuple[str, str]]:
    return await thread(desk)


async def bot_consult_texts(desk: Desk) -> list[str]:
    return [text for author, text in await thread(desk) if author == "bot"]


async def typing_for(desk: Desk, conversation: str, seconds: float, every: float = 10.0) -> None:
    """The customer types: a typing signal now and every `every` seconds for `seconds` of fake time."""
    elapsed = 0.0
    await desk.runtime.handle(CustomerTyping(conversation))
    while elapsed + every <= seconds:
        await desk.advance(every)
        elapsed += every
        await desk.runtime.handle(CustomerTyping(conversation))


# ===== in the consult: the SME waits on an idle agent =========================================================


async def sme_answered(desk: Desk) -> None:
    """A claimed consult in which the SME has just asked the agent something."""
    await accepted(desk)
    await claimed(desk)
    await wait(desk, 20)
    await desk.staff("ana", "consult", 1, "Where do I find the invoice history?")
    await wait(desk, 20)
    await desk.staff("sam", "consult", 1, "Which account is it? Send me the account ID.")


async def test_consult_prompt_after_two_minutes_of_agent_silence(desk: Desk) -> None:
    await sme_answered(desk)

    await wait(desk, 2 * MINUTE - 1)
    assert await bot_consult_texts(desk) == []
    await wait(desk, 1)

    assert await bot_consult_texts(desk) == [PROMPT_ANA]
    [prompt] = [n for n in await notices(desk, "consult_message") if n["text"] == PROMPT_ANA]
    assert set(prompt["recipients"]) == {"ana", "sam"} and prompt["author"] == "bot"
    consult = (await consults(desk, 1))[0]
    assert consult.state is ConsultState.ACTIVE and consult.idle_stage == 1


async def test_sme_is_warned_one_fifty_after_the_prompt(desk: Desk) -> None:
    await sme_answered(desk)
    await wait(desk, 2 * MINUTE)

    await wait(desk, 110 - 1)
    assert await notices(desk, "consult_idle") == []
    await wait(desk, 1)

    [warning] = await notices(desk, "consult_idle")
    assert warning["recipients"] == ["sam"]
    assert warning["text"] == "Ana has been silent for 3:50 since the prompt at 2:00; the chat ends at 4:00 of silence."
    assert (await stored_case(desk, 1)).consults[0].state is ConsultState.ACTIVE


async def test_consult_ends_at_four_minutes_of_agent_silence(desk: Desk) -> None:
    await sme_answered(desk)
    await wait(desk, 4 * MINUTE - 1)
    assert (await stored_case(desk, 1)).consults[0].state is ConsultState.ACTIVE

    await wait(desk, 1)

    assert await bot_consult_texts(desk) == [PROMPT_ANA, IDLE_END, IDLE_FOLLOWUP]
    consult = (await consults(desk, 1))[0]
    assert consult.state is ConsultState.ENDED and consult.end_reason == "idle"
    assert consult.ended_at == desk.clock.now()
    assert (await stored_case(desk, 1)).state is CaseState.WITH_AGENT  # only the consult ends
    await wait(desk, 10 * MINUTE)
    assert await bot_consult_texts(desk) == [PROMPT_ANA, IDLE_END, IDLE_FOLLOWUP]
    assert len(await notices(desk, "consult_idle")) == 1


async def test_agent_reply_before_the_prompt_resets_the_clock(desk: Desk) -> None:
    await sme_answered(desk)
    await wait(desk, 90)

    await desk.staff("ana", "consult", 1, "Account 48213.")

    await wait(desk, 10 * MINUTE)  # the SME has not answered: nobody is waiting on the agent
    assert await bot_consult_texts(desk) == []
    await desk.staff("sam", "consult", 1, "Thanks, and which invoice?")
    await wait(desk, 2 * MINUTE - 1)
    assert await bot_consult_texts(desk) == []
    await wait(desk, 1)
    assert await bot_consult_texts(desk) == [PROMPT_ANA]


async def test_agent_reply_after_the_prompt_stops_the_warning_and_the_end(desk: Desk) -> None:
    await sme_answered(desk)
    await wait(desk, 3 * MINUTE)
    assert await bot_consult_texts(desk) == [PROMPT_ANA]

    await desk.staff("ana", "consult", 1, "Sorry, I'm here: account 48213.")

    await wait(desk, 10 * MINUTE)
    assert await bot_consult_texts(desk) == [PROMPT_ANA]
    assert await notices(desk, "consult_idle") == []
    consult = (await consults(desk, 1))[0]
    assert consult.state is ConsultState.ACTIVE and consult.idle_stage == 0


async def test_agent_reply_after_the_warning_stops_the_end(desk: Desk) -> None:
    await sme_answered(desk)
    await wait(desk, 2 * MINUTE + 110)
    assert len(await notices(desk, "consult_idle")) == 1

    await desk.staff("ana", "consult", 1, "Here! Account 48213.")

    await wait(desk, 10 * MINUTE)
    assert IDLE_END not in await bot_consult_texts(desk)
    assert (await stored_case(desk, 1)).consults[0].state is ConsultState.ACTIVE


async def test_agent_unresponsive_from_the_start_is_prompted_after_the_opening(desk: Desk) -> None:
    """The SME's opening (sent by the bot for them) is the SME's first word: the agent's clock starts there."""
    await accepted(desk)
    await start(desk)
    await wait(desk, 30)
    await desk.staff("sam", "claim", 1)

    await wait(desk, 2 * MINUTE - 1)
    assert await bot_consult_texts(desk) == []
    await wait(desk, 1)
    assert await bot_consult_texts(desk) == [PROMPT_ANA]


async def test_agent_goodbye_that_stays_the_latest_line_closes_the_consult_at_once(desk: Desk) -> None:
    """SOP 003's exception: the agent signed off and nobody wrote after it, so the SME closes at
    once (after the short grace, `signoff_close_after`), with no 2:00 prompt."""
    await sme_answered(desk)
    await desk.staff("ana", "consult", 1, "Thanks, that's all I needed!")

    await wait(desk, 29)
    assert (await stored_case(desk, 1)).consults[0].state is ConsultState.ACTIVE  # either side may still write
    await wait(desk, 1)

    lines = await consult_lines(desk)
    assert lines[-1] == ("sam", CLOSING)
    assert PROMPT_ANA not in [text for _, text in lines]
    consult = (await consults(desk, 1))[0]
    assert consult.state is ConsultState.ENDED and consult.end_reason == "answered"
    assert consult.ended_at == desk.clock.now()
    await wait(desk, 10 * MINUTE)
    assert await notices(desk, "consult_idle") == []
    assert IDLE_END not in [text for _, text in await consult_lines(desk)]


async def test_agent_thanks_then_an_sme_question_runs_the_normal_idle_ladder(desk: Desk) -> None:
    """The sign-off is no longer the latest line once the SME asks something: the agent is
    prompted at 2:00 like anyone silent, never closed with the closing spiel."""
    await sme_answered(desk)
    await desk.staff("ana", "consult", 1, "ok thanks")
    await wait(desk, 10)
    await desk.staff("sam", "consult", 1, "Did that work?")

    await wait(desk, 2 * MINUTE)

    assert await bot_consult_texts(desk) == [PROMPT_ANA]
    assert CLOSING not in [text for _, text in await consult_lines(desk)]
    assert (await stored_case(desk, 1)).consults[0].state is ConsultState.ACTIVE


async def test_agent_goodbye_closes_that_instant_when_configured_so(tmp_path: Path) -> None:
    desk = await open_desk(tmp_path, consult_settings(consult={"signoff_close_after": "0s"}))
    await sme_answered(desk)
    await desk.staff("ana", "consult", 1, "Thanks, that's all I needed!")

    assert (await consult_lines(desk))[-1] == ("sam", CLOSING)
    assert (await stored_case(desk, 1)).consults[0].ended_at == desk.clock.now()
    await desk.store.close()


async def test_agent_thanks_with_a_follow_up_question_is_prompted_as_usual(desk: Desk) -> None:
    await sme_answered(desk)
    await desk.staff("ana", "consult", 1, "Thanks! One more question: can it be backdated?")
    await desk.staff("sam", "consult", 1, "Backdated how far?")

    await wait(desk, 2 * MINUTE)

    assert await bot_consult_texts(desk) == [PROMPT_ANA]
    assert CLOSING not in [text for _, text in await consult_lines(desk)]


# ===== customer chats: the customer goes quiet after the agent spoke ==============================================


async def agent_asked(desk: Desk) -> str:
    """A customer with Ana, who has just asked them something; returns the conversation id."""
    conversation = await accepted(desk)
    await wait(desk, 30)
    await desk.staff("ana", "say", 1, "Could you try reloading the page with Ctrl+F5?")
    return conversation


async def test_customer_prompt_after_two_minutes_of_silence(desk: Desk) -> None:
    conversation = await agent_asked(desk)

    await wait(desk, 2 * MINUTE - 1)
    assert PROMPT_CUSTOMER not in await texts(desk, conversation)
    await wait(desk, 1)

    transcript = await desk.store.transcript(conversation)
    assert transcript[-1].text == PROMPT_CUSTOMER and transcript[-1].sender == "bot"
    assert (await desk.case_of(conversation)).customer_idle_stage == 1


async def test_agent_is_warned_one_fifty_after_the_prompt(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await wait(desk, 2 * MINUTE)

    await wait(desk, 110 - 1)
    assert await notices(desk, "customer_idle") == []
    await wait(desk, 1)

    [warning] = await notices(desk, "customer_idle")
    assert warning["recipients"] == ["ana"] and warning["case_id"] == 1
    assert warning["text"] == "The customer on CS-000001 has been silent for 3:50; the chat ends at 4:00 of silence."
    assert (await desk.case_of(conversation)).state is CaseState.WITH_AGENT


async def test_chat_ends_at_four_minutes_of_customer_silence(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    assert (await desk.store.active_chats()).get("ana") == 1
    await wait(desk, 4 * MINUTE - 1)
    assert (await desk.case_of(conversation)).state is CaseState.WITH_AGENT

    await wait(desk, 1)

    assert (await texts(desk, conversation))[-3:] == [PROMPT_CUSTOMER, IDLE_END, IDLE_FOLLOWUP]
    case = await desk.case_of(conversation)
    assert case.state is CaseState.CLOSED and case.resolution == "idle"
    assert case.resolved_at == desk.clock.now()
    assert case.survey is SurveyStage.NOT_ASKED
    transcript = await desk.store.transcript(conversation)
    assert not any(e.buttons for e in transcript[-3:])  # no survey buttons
    assert (await desk.store.active_chats()).get("ana", 0) == 0  # Ana's slot is free again


async def test_every_customer_message_resets_the_idle_clock(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await wait(desk, 90)

    await desk.say(conversation, "Reloading now...")

    await wait(desk, 10 * MINUTE)  # the agent owes the next message: no prompts
    assert PROMPT_CUSTOMER not in await texts(desk, conversation)
    await desk.staff("ana", "say", 1, "Did that help?")
    await wait(desk, 2 * MINUTE - 1)
    assert PROMPT_CUSTOMER not in await texts(desk, conversation)
    await wait(desk, 1)
    assert (await texts(desk, conversation))[-1] == PROMPT_CUSTOMER


async def test_customer_reply_after_the_prompt_stops_the_warning_and_the_end(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await wait(desk, 2 * MINUTE + 100)

    await desk.say(conversation, "Sorry, still here. It's still blank.")

    await wait(desk, 10 * MINUTE)
    assert await notices(desk, "customer_idle") == []
    case = await desk.case_of(conversation)
    assert case.state is CaseState.WITH_AGENT and case.customer_idle_stage == 0
    assert IDLE_END not in await texts(desk, conversation)


async def test_customer_on_hold_is_not_prompted(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await start(desk)
    await wait(desk, MINUTE)

    await desk.staff("ana", "hold", 1)

    await wait(desk, 10 * MINUTE)
    said = await texts(desk, conversation)
    assert PROMPT_CUSTOMER not in said and IDLE_END not in said
    assert (await desk.case_of(conversation)).state is CaseState.WITH_AGENT
    assert len(await notices(desk, "hold_checkin")) == 5  # the agent is reminded to check in instead


async def test_checking_in_on_hold_does_not_start_prompts(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await start(desk)
    await desk.staff("ana", "hold", 1)
    await wait(desk, MINUTE)

    await desk.staff("ana", "say", 1, "Still on it, thanks for waiting!")

    await wait(desk, 10 * MINUTE)
    assert PROMPT_CUSTOMER not in await texts(desk, conversation)


async def test_prompts_resume_after_the_hold_ends(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await claimed(desk)
    await desk.staff("ana", "hold", 1)
    await wait(desk, MINUTE)
    await desk.staff("sam", "endconsult", 1)

    await desk.staff("ana", "say", 1, "Thanks for waiting! Please re-sync the invoice.")

    await wait(desk, 2 * MINUTE)
    assert (await texts(desk, conversation))[-1] == PROMPT_CUSTOMER


async def test_idle_sop_only_on_configured_platforms(tmp_path: Path) -> None:
    desk = await open_desk(tmp_path, consult_settings(consult={"customer_idle_platforms": ["slack"]}))
    try:
        conversation = await agent_asked(desk)  # a web chat

        await wait(desk, 10 * MINUTE)

        said = await texts(desk, conversation)
        assert PROMPT_CUSTOMER not in said and IDLE_END not in said
        assert (await desk.case_of(conversation)).state is CaseState.WITH_AGENT
        assert await notices(desk, "customer_idle") == []
    finally:
        await desk.store.close()


async def test_customer_goodbye_that_stays_the_latest_message_closes_the_chat_at_once(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await desk.say(conversation, "That worked!")
    await desk.staff("ana", "say", 1, "Great! Anything else I can help with?")
    await desk.say(conversation, "thanks so much, bye!")

    await wait(desk, 29)
    assert (await desk.case_of(conversation)).state is CaseState.WITH_AGENT
    await wait(desk, 1)

    transcript = await desk.store.transcript(conversation)
    said = [e.text for e in transcript]
    assert CHAT_CLOSING in said and PROMPT_CUSTOMER not in said
    closing_at = said.index(CHAT_CLOSING)
    assert [b["label"] for b in transcript[closing_at + 1].buttons] == ["1", "2", "3", "4", "5"]  # the survey
    case = await desk.case_of(conversation)
    assert case.state is CaseState.RESOLVED and case.survey is SurveyStage.ASKED
    assert case.resolved_at == desk.clock.now()
    assert (await desk.store.active_chats()).get("ana", 0) == 0
    await wait(desk, 10 * MINUTE)
    assert IDLE_END not in await texts(desk, conversation)
    assert await notices(desk, "customer_idle") == []


async def test_customer_thanks_then_the_agents_question_runs_the_normal_idle_ladder(desk: Desk) -> None:
    """Customer "thanks!", agent "Before you go: …": the chat has moved on, so silence after it is
    prompted at 2:00 and ended at 4:00, never closed as a sign-off."""
    conversation = await agent_asked(desk)
    await desk.say(conversation, "thanks!")
    await wait(desk, 10)
    await desk.staff("ana", "say", 1, "Before you go: did the export include all 3 classes?")

    await wait(desk, 2 * MINUTE)
    said = await texts(desk, conversation)
    assert said[-1] == PROMPT_CUSTOMER and CHAT_CLOSING not in said
    await wait(desk, 2 * MINUTE)
    said = await texts(desk, conversation)
    assert IDLE_END in said and CHAT_CLOSING not in said


async def test_customer_goodbye_closes_that_instant_when_configured_so(tmp_path: Path) -> None:
    desk = await open_desk(tmp_path, consult_settings(consult={"signoff_close_after": "0s"}))
    conversation = await agent_asked(desk)

    assert (await desk.say(conversation, "thanks so much, bye!"))[0] == CHAT_CLOSING
    assert (await desk.case_of(conversation)).state is CaseState.RESOLVED
    await desk.store.close()


async def test_customer_thanks_with_a_follow_up_is_prompted_as_usual(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await desk.say(conversation, "thanks, but it still fails")
    await desk.staff("ana", "say", 1, "Which browser are you using?")

    await wait(desk, 2 * MINUTE)

    said = await texts(desk, conversation)
    assert said[-1] == PROMPT_CUSTOMER and CHAT_CLOSING not in said


async def test_goodbye_after_the_case_is_resolved_opens_no_new_case(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await desk.say(conversation, "That worked!")
    await desk.staff("ana", "resolve", 1)

    said_back = await desk.say(conversation, "thanks, bye")

    assert said_back == [CHAT_CLOSING]
    case = await desk.case_of(conversation)
    assert case.id == 1 and case.state is CaseState.CLOSED
    assert await desk.store.case(2) is None
    assert (await texts(desk, conversation))[-2:] == ["thanks, bye", CHAT_CLOSING]


async def test_goodbye_after_the_idle_end_opens_no_new_case(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await wait(desk, 4 * MINUTE)

    said_back = await desk.say(conversation, "Thank you!!! 🙏")

    assert said_back == [CHAT_CLOSING]
    assert (await desk.case_of(conversation)).id == 1
    assert await desk.store.case(2) is None


async def test_a_new_problem_after_resolution_does_open_a_new_case(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await desk.staff("ana", "resolve", 1)

    await desk.say(conversation, "thanks, but now my CSV export fails too")

    case = await desk.case_of(conversation)
    assert case.id == 2 and case.previous_case_id == 1


# ----- typing ---------------------------------------------------------------------------------------------------


async def test_typing_through_the_runtime_holds_the_prompt_back(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await wait(desk, MINUTE)

    await typing_for(desk, conversation, 70)  # typing from 1:00 to 2:10

    assert PROMPT_CUSTOMER not in await texts(desk, conversation)


async def test_typing_for_less_than_two_minutes_holds_the_prompt_back(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await wait(desk, MINUTE)

    await typing_for(desk, conversation, 110)  # typing from 1:00 to 2:50, through the 2:00 mark
    await desk.say(conversation, "I reloaded it and now it shows an error about cookies.")

    await wait(desk, 10 * MINUTE)
    said = await texts(desk, conversation)
    assert PROMPT_CUSTOMER not in said and IDLE_END not in said


async def test_typing_for_more_than_two_minutes_without_a_message_starts_the_prompts(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await wait(desk, 30)

    await typing_for(desk, conversation, 110)  # typing from 0:30 to 2:20: the 2:00 mark passes, no prompt
    assert PROMPT_CUSTOMER not in await texts(desk, conversation)
    await typing_for(desk, conversation, 10)  # 2:30: typing for 2:00 without a message

    assert (await texts(desk, conversation))[-1] == PROMPT_CUSTOMER
    assert (await desk.case_of(conversation)).customer_idle_stage == 1


async def test_customer_who_stops_typing_is_prompted(desk: Desk) -> None:
    conversation = await agent_asked(desk)
    await wait(desk, MINUTE)

    await typing_for(desk, conversation, 50)  # typing from 1:00 to 1:50, then nothing
    await wait(desk, 10)
    assert PROMPT_CUSTOMER not in await texts(desk, conversation)  # 2:00: typing a moment ago

    await wait(desk, MINUTE)
    assert (await texts(desk, conversation))[-1] == PROMPT_CUSTOMER  # prompted by 3:00 of silence
    await wait(desk, 2 * MINUTE)
    assert (await desk.case_of(conversation)).state is CaseState.CLOSED  # and the SOP runs to its end

