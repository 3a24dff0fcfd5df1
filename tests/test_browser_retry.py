"""The chat page in real headless Chromium: a message whose answer is lost on the way back is sent
again with the same Idempotency-Key, and the conversation holds it once."""

from __future__ import annotations

import pytest
from playwright.async_api import Route, expect

from tests.browser import Pages, browser, live_server, pages  # noqa: F401
from tests.test_browser_journey import open_customer, say, transcript_via_api

pytestmark = pytest.mark.browser


async def test_a_message_whose_answer_is_lost_is_sent_again_and_kept_once(pages: Pages) -> None:
    customer = await open_customer(pages)
    keys: list[str] = []

    async def lose_the_first_answer(route: Route) -> None:
        if route.request.method == "POST":
            keys.append(route.request.headers.get("idempotency-key", ""))
        if len(keys) == 1 and route.request.method == "POST":
            await route.fetch()  # the server handles it...
            await route.abort("connectionreset")  # ...and the answer never arrives
        else:
            await route.continue_()

    await customer.route("**/api/conversations/*/messages", lose_the_first_answer)
    await say(customer, "I forgot my password and can't log in")
    await expect(customer.locator("#log .msg.bot", has_text="I've opened case")).to_be_visible()
    await say(customer, "Chrome")
    await expect(customer.locator("#log .msg.customer", has_text="Chrome")).to_be_visible()

    first, retried, second = keys
    assert first and retried == first and second != first  # the retry carried its message's key; the next has its own
    sent = [m["text"] for m in await transcript_via_api(customer) if m["from"] == "customer"]
    assert sent == ["I forgot my password and can't log in", "Chrome"]
    pages.assert_no_errors()
