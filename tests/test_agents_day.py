"""The agent's day: the SOP rules in their corner cases, as conversation scripts on the fake clock.

Each test reads as the rule it checks (issue 12: no customer is ever stranded, every SOP rule holds
in the corners)."""

from __future__ import annotations

from bot.domain import Role
from bot.pii import for_role
from tests.harness import Desk

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
