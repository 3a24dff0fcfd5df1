"""The agent's day in real headless Chromium: an agent whose tab closes does not strand the
customer, and the console's new work lists and hand-over."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser import Pages, browser, e2e_settings, serving  # noqa: F401
from tests.test_browser_journey import DETAILS, PROBLEM, accept_waiting_case, case_number_in, open_customer, say

pytestmark = pytest.mark.browser


async def test_an_agents_tab_closes_and_after_the_grace_period_another_agent_takes_the_chat(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    settings = e2e_settings(tmp_path, queue={"agent_grace": "2s"}, server={"timer_poll_interval": "0.2s"})
    async with serving(settings) as server:
        pages = Pages(browser, server)
        try:
            ana = await pages.open_as("ana")
            await ana.locator("#available").click()
            await expect(ana.locator("#status")).to_contain_text("Ana · available")
            ben = await pages.open_as("ben")
            await ben.locator("#available").click()
            await expect(ben.locator("#status")).to_contain_text("Ben · available")

            customer = await open_customer(pages)
            await say(customer, PROBLEM)
            number = await case_number_in(customer)
            await say(customer, DETAILS)
            await customer.get_by_role("button", name="I still need help").click()
            await expect(customer.locator("#log .msg.bot").last).to_contain_text("in the queue")
            await accept_waiting_case(ana, number)
            await expect(customer.locator("#log .msg.bot").last).to_contain_text("Ana has joined the chat")

            await ana.context.close()  # Ana's tab (her whole browser) goes away
            pages.contexts.remove(ana.context)
            await say(customer, "Are you still there?")
            left = customer.locator("#log .msg.bot", has_text="Ana had to step away, so the next available advisor will pick up your chat")
            await expect(left).to_be_visible(timeout=15_000)
            await expect(customer.locator("#log .msg.bot").last).to_contain_text("You're now number 1 in the queue")
            waiting = ben.locator("#waiting .item", has_text=number)
            await expect(waiting).to_be_visible()
            await waiting.click()
            await ben.locator("#accept").click()
            await expect(customer.locator("#log .msg.bot").last).to_contain_text("Ben has joined the chat")
            await expect(ben.locator("#transcript")).to_contain_text("Are you still there?")  # nothing the customer said is lost
            pages.assert_no_errors()
        finally:
            for context in pages.contexts:
                await context.close()


async def test_an_agent_hands_a_chat_to_a_colleague_from_the_console(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async with serving(e2e_settings(tmp_path)) as server:
        pages = Pages(browser, server)
        try:
            ana = await pages.open_as("ana")
            await ana.locator("#available").click()
            ben = await pages.open_as("ben")
            await ben.locator("#available").click()
            await expect(ben.locator("#status")).to_contain_text("Ben · available")
            customer = await open_customer(pages)
            await say(customer, PROBLEM)
            number = await case_number_in(customer)
            await say(customer, DETAILS)
            await customer.get_by_role("button", name="I still need help").click()
            await accept_waiting_case(ana, number)

            await ana.locator("#handover").click()
            await ana.locator("#handover-to").select_option("ben")
            await ana.locator("#handover-note").fill("end of my shift; she needs the reset link again")
            await ana.get_by_role("button", name="Hand over", exact=True).click()
            await expect(customer.locator("#log .msg.bot").last).to_contain_text("Ben has joined the chat")
            await expect(ben.locator("#mine")).to_contain_text(number)
            await expect(ben.locator("#notices")).to_contain_text(f"Ana handed {number} to you: end of my shift")
            await expect(ana.locator("#mine")).not_to_contain_text(number)
            pages.assert_no_errors()
        finally:
            for context in pages.contexts:
                await context.close()
