"""The agent's day: the SOP rules in their corner cases, as conversation scripts on the fake clock.

Each test reads as the rule it checks (issue 12: no customer is ever stranded, every SOP rule holds
in the corners)."""

from __future__ import annotations

from pathlib import Path

from bot.domain import Role
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
