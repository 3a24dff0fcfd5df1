"""Closed-case search (GET /api/agent/search) through the real application and SQLite store:
who may search, what Tier I sees, what a query matches, and paging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.events import StaffCommand
from bot.runtime import Runtime
from tests.seed import conversation, queued_case, resolved_case
from tests.staff import bearer
from tests.test_webchat_api import AiohttpClient, make_app, runtime_of

Client = TestClient[Any, Any]


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: AiohttpClient) -> AsyncIterator[Client]:
    yield await aiohttp_client(make_app(tmp_path, background=False))


async def search(client: Client, staff: dict[str, str], status: int = 200, **params: Any) -> Any:
    response = await client.get("/api/agent/search", params=params, headers=staff)
    assert response.status == status, await response.text()
    return await response.json()


async def numbers(client: Client, staff: dict[str, str], **params: Any) -> list[str]:
    return [c["number"] for c in (await search(client, staff, **params))["cases"]]


async def three_cases(runtime: Runtime) -> None:
    """CS-000001..3, resolved, and CS-000004 still waiting."""
    await resolved_case(runtime, "My grade export is broken", name="Ann Lee", note="Old plan, see billing #Refund-Request")
    await resolved_case(runtime, "The video won't play, write to ann@school.org", name="Bo")
    await resolved_case(runtime, "100% of my class_list is gone", name="Cy")
    await queued_case(runtime, await conversation(runtime, "Di"), "Video stutters on the open case")


async def test_searching_needs_a_sign_in_and_is_not_for_smes(client: Client) -> None:
    store = runtime_of(client).store
    assert (await client.get("/api/agent/search", params={"q": "x"})).status == 401
    refused = await search(client, await bearer(store, "sam"), 403, q="x")
    assert "SME" in refused["error"]
    assert (await search(client, await bearer(store, "ana"), q=""))["cases"] == []


async def test_closed_cases_are_found_by_number_name_tag_and_words_newest_first(client: Client) -> None:
    runtime = runtime_of(client)
    await three_cases(runtime)
    ana = await bearer(runtime.store, "ana")
    assert await numbers(client, ana) == ["CS-000003", "CS-000002", "CS-000001"]  # closed only, newest first
    assert await numbers(client, ana, q="CS-000002") == ["CS-000002"]
    assert await numbers(client, ana, q="ann lee") == ["CS-000001"]  # the customer's name, any case
    assert await numbers(client, ana, q="#refund-request") == ["CS-000001"]  # a tag, exactly
    assert await numbers(client, ana, q="#refund") == []
    assert await numbers(client, ana, q="billing plan") == ["CS-000001"]  # every word, in a note
    assert await numbers(client, ana, q="looking") == ["CS-000003", "CS-000002", "CS-000001"]  # the agent's line
    assert await numbers(client, ana, q="video") == ["CS-000002"]
    assert await numbers(client, ana, q="video", scope="all") == ["CS-000004", "CS-000002"]
    # % and _ are themselves, not wildcards
    assert await numbers(client, ana, q="100%") == ["CS-000003"]
    assert await numbers(client, ana, q="class_list") == ["CS-000003"]
    assert await numbers(client, ana, q="1_0%") == []
    # the bot's own lines are not searched: every case has them
    assert await numbers(client, ana, q="resolved") == []


async def test_tier_one_sees_results_masked_and_cannot_search_by_personal_data(client: Client) -> None:
    runtime = runtime_of(client)
    await three_cases(runtime)
    ana, tara = await bearer(runtime.store, "ana"), await bearer(runtime.store, "tara")
    masked = (await search(client, ana, q="video"))["cases"][0]
    assert masked["problem"] == "The video won't play, write to a***@school.org"
    full = (await search(client, tara, q="video"))["cases"][0]
    assert "ann@school.org" in full["problem"]
    refused = await search(client, ana, 400, q="ann@school.org")
    assert "email or phone" in refused["error"]
    assert [c["number"] for c in (await search(client, tara, q="ann@school.org"))["cases"]] == ["CS-000002"]


async def test_results_come_a_page_at_a_time(client: Client) -> None:
    runtime = runtime_of(client)
    await three_cases(runtime)
    ana = await bearer(runtime.store, "ana")
    first = await search(client, ana, limit="2")
    assert [c["number"] for c in first["cases"]] == ["CS-000003", "CS-000002"]
    assert first["next_before"] == 2
    second = await search(client, ana, limit="2", before=str(first["next_before"]))
    assert [c["number"] for c in second["cases"]] == ["CS-000001"]
    assert second["next_before"] is None
    assert len((await search(client, ana, limit="1000"))["cases"]) == 3  # capped, not refused
    case = first["cases"][0]
    assert case["state"] == "resolved" and case["resolved_at"] is not None and case["customer_name"] == "Cy"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [({"limit": "many"}, "whole numbers"), ({"before": "x"}, "whole numbers"), ({"scope": "open"}, "scope"), ({"q": "x" * 201}, "too long")],
)
async def test_bad_parameters_are_explained(client: Client, params: dict[str, str], fragment: str) -> None:
    ana = await bearer(runtime_of(client).store, "ana")
    assert fragment in (await search(client, ana, 400, **params))["error"]


async def test_a_search_finds_what_the_last_commit_wrote(client: Client) -> None:
    """The search reads on a connection of its own: committed work is there at once."""
    runtime = runtime_of(client)
    case = await resolved_case(runtime, "Printer on fire")
    ana = await bearer(runtime.store, "ana")
    await runtime.handle(StaffCommand("ana", "note", case.id, "called the school #followup"))
    assert await numbers(client, ana, q="#followup") == [case.number]
