"""What the console's state, case view and notices carry for an agent's day: timers (accepted, first
reply), flags, the customer's profile and other cases, and notices with their time and case number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from adapters.webchat.customer import iso_time
from bot.clock import FakeClock
from bot.events import CustomerMessage, StaffCommand
from tests.seed import conversation, current_case, queued_case, resolved_case
from tests.staff import bearer
from tests.test_webchat_api import AiohttpClient, _console_frames, make_app, runtime_of

Client = TestClient[Any, Any]


@pytest.fixture
async def live(tmp_path: Path, aiohttp_client: AiohttpClient) -> AsyncIterator[Client]:
    yield await aiohttp_client(make_app(tmp_path, background=True))


async def latest_state(socket: Any, wanted: Any) -> dict[str, Any]:
    """State frames until one satisfies `wanted` (the console coalesces bursts of changes)."""
    for _ in range(30):
        state = await _console_frames(socket, "state")
        if wanted(state):
            return state
    raise AssertionError("no such state")


async def test_an_accepted_chat_shows_when_it_was_accepted_and_first_answered(live: Client) -> None:
    runtime = runtime_of(live)
    clock = runtime.clock
    assert isinstance(clock, FakeClock)
    ana = await bearer(runtime.store, "ana")
    async with live.ws_connect("/api/agent/ws", headers=ana) as socket:
        await _console_frames(socket, "state")
        await runtime.handle(StaffCommand("ana", "status", text="available"))
        assert (await _console_frames(socket, "notice"))["case_number"] is None  # "You are now available."
        case = await queued_case(runtime, await conversation(runtime, "Ann Lee"), "Export broken, can I speak to a manager?")
        notice = await _console_frames(socket, "notice")
        assert notice["case_id"] == case.id and notice["case_number"] == case.number and notice["at"] == iso_time(clock.now())

        clock.advance(30)
        await socket.send_json({"type": "command", "command": "accept", "case_id": case.id})
        mine = (await latest_state(socket, lambda s: s["mine"]))["mine"][0]
        assert mine["accepted_at"] == clock.now() and mine["first_reply_at"] is None
        assert mine["customer_name"] == "Ann" and mine["flags"] == ["manager"]

        clock.advance(45)
        await socket.send_json({"type": "command", "command": "say", "case_id": case.id, "text": "Hi Ann, Ana here."})
        mine = (await latest_state(socket, lambda s: s["mine"][0]["first_reply_at"]))["mine"][0]
        assert mine["first_reply_at"] - mine["accepted_at"] == 45
        clock.advance(60)
        await socket.send_json({"type": "command", "command": "hold", "case_id": case.id})
        mine = (await latest_state(socket, lambda s: "on_hold" in s["mine"][0]["flags"]))["mine"][0]
        assert mine["first_reply_at"] - mine["accepted_at"] == 45  # the first reply, not the latest
        assert mine["flags"] == ["manager", "on_hold"]

    detail = await (await live.get(f"/api/agent/cases/{case.id}", headers=ana)).json()
    assert detail["case"]["first_reply_at"] == mine["first_reply_at"]


async def test_the_case_view_has_the_customer_and_their_other_cases(live: Client) -> None:
    runtime = runtime_of(live)
    cid = await conversation(runtime, "Ann Lee")
    first = await resolved_case(runtime, "My export is broken, I'm ann@school.org", conversation_id=cid)
    await runtime.handle(CustomerMessage(cid, "Now the video won't play. Can you call me?"))
    second = await current_case(runtime, cid)
    assert second.previous_case_id == first.id
    elsewhere = await resolved_case(runtime, "Unrelated", name="Bo")

    ana, tara, sam = [await bearer(runtime.store, who) for who in ("ana", "tara", "sam")]
    detail = await (await live.get(f"/api/agent/cases/{second.id}", headers=ana)).json()
    assert detail["customer"] == {"name": "Ann Lee", "platform": "web", "details": {"email": "a***@school.org"}}  # carried over, masked
    others = detail["other_cases"]
    assert [(o["id"], o["number"], o["state"]) for o in others] == [(first.id, first.number, "closed")]  # a new case closes the old one
    assert others[0]["problem"] == "My export is broken, I'm a***@school.org"
    assert others[0]["created_at"] == first.created_at and elsewhere.id not in [o["id"] for o in others]
    full = await (await live.get(f"/api/agent/cases/{second.id}", headers=tara)).json()
    assert "ann@school.org" in full["other_cases"][0]["problem"]
    # the earlier case sees the later one too: they share the conversation
    back = await (await live.get(f"/api/agent/cases/{first.id}", headers=ana)).json()
    assert [o["id"] for o in back["other_cases"]] == [second.id]
    assert (await live.get(f"/api/agent/cases/{second.id}", headers=sam)).status == 403


async def test_flags_name_call_backs_tickets_and_development(live: Client) -> None:
    runtime = runtime_of(live)
    tara = await bearer(runtime.store, "tara")
    # nobody available: the bot takes a message and opens a ticket
    ticketed = await queued_case(runtime, await conversation(runtime, "Cy"), "The app crashes")
    assert ticketed.ticket
    detail = await (await live.get(f"/api/agent/cases/{ticketed.id}", headers=tara)).json()
    assert detail["case"]["flags"] == ["ticket"] and detail["case"]["ticket"] == ticketed.ticket

    await runtime.handle(StaffCommand("tara", "status", text="available"))
    await runtime.handle(StaffCommand("ana", "status", text="available"))
    case = await queued_case(runtime, await conversation(runtime, "Di"), "Grades missing")
    await runtime.handle(StaffCommand("ana", "accept", case.id))
    await runtime.handle(StaffCommand("ana", "escalate", case.id, "tier2"))
    await runtime.handle(StaffCommand("tara", "accept", case.id))
    await runtime.handle(StaffCommand("tara", "devwait", case.id))
    detail = await (await live.get(f"/api/agent/cases/{case.id}", headers=tara)).json()
    assert detail["case"]["flags"] == ["devwait"]
    await runtime.handle(CustomerMessage(case.conversation_id, "Can you call me? My number is +1 555 010 9999"))
    detail = await (await live.get(f"/api/agent/cases/{case.id}", headers=tara)).json()
    assert detail["case"]["flags"] == ["callback", "devwait"]
