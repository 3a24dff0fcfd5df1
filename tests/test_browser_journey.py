"""End to end in real headless Chromium: the customer chat page and the agent console on the real app.

Each test runs the whole service (SQLite store, bundled help articles, real clock, background timer
and delivery loops) on a free local port and drives both pages the way people use them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser import Pages, browser, live_server, pages  # noqa: F401

pytestmark = pytest.mark.browser

GREETING = "Hi! I'm the support assistant"
# The problem alone: the bundled "Reset a forgotten password" article matches it confidently.
PROBLEM = "I forgot my password and can't log in"
# Every intake detail (SOP 002), given when the bot asks for them. The error text is added to the
# article search, so it is one that keeps the reset-password article confident.
DETAILS = (
    "My user ID is 48213, I use Chrome, my email is ann@school.org, "
    'the error says "Reset link expired", steps: I clicked Forgot password and opened the link'
)
INJECTION = '<img src=x onerror="window.__pwned=1"><b>bold</b>'
CASE_NUMBER = re.compile(r"CS-\d{6}")


# ----- page helpers ---------------------------------------------------------------------------------


async def say(customer: Page, text: str) -> None:
    """Types into the customer compose box and presses Enter."""
    await customer.locator("#text").fill(text)
    await customer.locator("#text").press("Enter")
    await expect(customer.locator("#text")).to_have_value("")
    await expect(customer.locator("#error")).to_have_text("")


async def open_customer(pages: Pages) -> Page:
    customer = await pages.open("/")
    await expect(customer.locator("#log .msg.bot").first).to_contain_text(GREETING)
    await expect(customer.locator("#status")).to_have_text("connected")
    return customer


async def open_available_agent(pages: Pages) -> Page:
    """Ana's console, connected (its first state shows her away), then made available."""
    agent = await pages.open_as("ana")
    await expect(agent.locator("#status")).to_contain_text("Ana · away")
    await agent.locator("#available").click()
    await expect(agent.locator("#status")).to_contain_text("Ana · available · 0/3 chats")
    return agent


async def case_number_in(customer: Page) -> str:
    opened = customer.locator("#log .msg.bot", has_text="I've opened case")
    await expect(opened).to_contain_text(CASE_NUMBER)
    found = CASE_NUMBER.search(await opened.inner_text())
    assert found is not None
    return found.group(0)


async def transcript_via_api(customer: Page) -> list[dict[str, Any]]:
    """The conversation as the public API returns it, using the page's own stored token."""
    messages: list[dict[str, Any]] = await customer.evaluate(
        """async () => {
            const c = JSON.parse(sessionStorage.getItem("supportbot.conversation"));
            const r = await fetch(`/api/conversations/${c.id}/messages`, {headers: {Authorization: "Bearer " + c.token}});
            return (await r.json()).messages;
        }"""
    )
    return messages


async def accept_waiting_case(agent: Page, number: str) -> None:
    item = agent.locator("#waiting .item", has_text=number)
    await item.click()
    await expect(agent.locator("#case-title")).to_contain_text(f"{number} · queued")
    await agent.locator("#accept").click()
    await expect(agent.locator("#case-title")).to_contain_text(f"{number} · with agent · Ana")
    await expect(agent.locator("#reply-text")).to_be_visible()


# ----- tests ----------------------------------------------------------------------------------------


async def test_customer_and_agent_run_the_whole_journey(pages: Pages) -> None:
    agent = await open_available_agent(pages)
    await expect(agent.locator("#waiting")).to_have_text("No chats waiting")

    customer = await open_customer(pages)
    log = customer.locator("#log")

    # Intake: the bot opens a case and asks once for the details Tier I needs.
    await say(customer, PROBLEM)
    number = await case_number_in(customer)
    await expect(log.locator(".msg.customer").last).to_contain_text(PROBLEM)
    await expect(log.locator(".msg.bot").last).to_contain_text("could you tell me")

    # All details given: the bundled knowledge base offers the reset-password article.
    await say(customer, DETAILS)
    offer = log.locator(".msg.bot", has_text="These help articles may answer your question")
    await expect(offer).to_contain_text("Reset a forgotten password")
    await expect(offer.get_by_role("button", name="This solved it")).to_be_visible()
    still_need_help = offer.get_by_role("button", name="I still need help")
    await still_need_help.click()
    await expect(still_need_help).to_be_disabled()
    await expect(log.locator(".msg.customer").last).to_have_text(re.compile(r"I still need help$"))
    await expect(log.locator(".msg.bot").last).to_contain_text("You're number 1 in the queue")

    # The agent sees the chat waiting, with a wait time that ticks.
    waiting = agent.locator("#waiting .item", has_text=number)
    await expect(waiting).to_contain_text(PROBLEM)
    wait = waiting.locator(".wait")
    await expect(wait).to_have_text(re.compile(r"^waiting \d+:\d\d / 2:00( \(late\))?$"))
    first_reading = await wait.inner_text()
    await expect(wait).not_to_have_text(first_reading)
    await expect(agent.locator("#notices")).to_contain_text(f"New chat waiting: {number}")

    await accept_waiting_case(agent, number)
    await expect(log.locator(".msg.bot").last).to_contain_text("Ana has joined the chat")
    await expect(agent.locator("#waiting")).to_have_text("No chats waiting")
    await expect(agent.locator("#mine")).to_contain_text(number)
    await expect(agent.locator("#status")).to_contain_text("1/3 chats")
    # Intake details reach the agent's view of the customer; Tier I sees the email masked (SOP 002).
    details = agent.locator("#profile-details dd")
    await expect(details).to_have_text(["user ID 48213", "Chrome", "a***@school.org", "Reset link expired", re.compile("Forgot password")])
    await expect(agent.locator("#profile-details dt")).to_have_text(["Account ID", "Browser", "Email", "Error", "Steps"])
    await expect(agent.locator("#profile")).not_to_contain_text("ann@school.org")
    await expect(agent.locator("#transcript")).to_contain_text(PROBLEM)
    # Agent assist: articles for the customer's words, and a search that finds agent-only ones.
    articles = agent.locator("#articles")
    await expect(articles).to_contain_text("Reset a forgotten password")
    await agent.locator("#kb-text").fill("customer wants a refund")
    await agent.get_by_role("button", name="Search").click()
    await expect(articles).to_contain_text("Internal: issue a refund")
    await expect(articles.locator(".tag").first).to_have_text("agents only")

    # Agent → customer, attributed to Ana.
    reply = "Hi, I'm Ana. I've sent you a fresh reset link just now."
    await agent.locator("#reply-text").fill(reply)
    await agent.locator("#reply-text").press("Enter")
    from_ana = log.locator(".msg.agent").last
    await expect(from_ana).to_contain_text(reply)
    await expect(from_ana.locator(".who")).to_have_text("Ana")

    # Customer → agent.
    answer = "Got the new email, signing in with it now."
    await say(customer, answer)
    await expect(agent.locator("#transcript .msg.customer").last).to_contain_text(answer)

    # An internal note with a tag: in the agent's notes, never on the customer page.
    secret = "Ownership checked with the school admin NOTE-7731"
    await agent.locator("#note-text").fill(f"{secret} #password-reset")
    await agent.get_by_role("button", name="Add note").click()
    notes = agent.locator("#notes")
    await expect(notes).to_contain_text(f"Ana: {secret}")
    await expect(notes.locator(".tag")).to_have_text("#password-reset")
    # A later message reaches the customer, so the note (earlier) would have arrived by now.
    follow_up = "Anything else I can help with?"
    await agent.locator("#reply-text").fill(follow_up)
    await agent.locator("#reply-text").press("Enter")
    await expect(log.locator(".msg.agent").last).to_contain_text(follow_up)
    await expect(log).not_to_contain_text("NOTE-7731")

    # Resolve, then the one-question survey and an optional comment.
    await agent.locator("#resolve").click()
    await expect(log).to_contain_text(f"Ana has marked case {number} resolved.")
    survey = log.locator(".msg.bot", has_text="How would you rate the help you got")
    await expect(survey).to_contain_text(number)
    await survey.get_by_role("button", name="5", exact=True).click()
    await expect(log.locator(".msg.customer").last).to_have_text(re.compile(r"5$"))
    comment_prompt = log.locator(".msg.bot").last
    await expect(comment_prompt).to_contain_text("Anything you'd like to tell us about it?")
    await expect(comment_prompt.get_by_role("button", name="No comment")).to_be_visible()
    await say(customer, "Quick and friendly, thank you Ana!")
    await expect(log.locator(".msg.bot").last).to_contain_text("Thank you for your feedback")

    await expect(agent.locator("#mine")).to_have_text("No open cases of yours")
    await expect(agent.locator("#status")).to_contain_text("0/3 chats")
    await expect(log).not_to_contain_text("NOTE-7731")
    transcript = await transcript_via_api(customer)
    assert transcript and not any("NOTE-7731" in m["text"] or "password-reset" in m["text"] for m in transcript)
    pages.assert_no_errors()


async def test_typed_html_is_shown_as_text_on_both_pages(pages: Pages) -> None:
    agent = await open_available_agent(pages)
    customer = await open_customer(pages)

    await say(customer, INJECTION)
    number = await case_number_in(customer)
    await expect(customer.locator("#log .msg.customer").last).to_contain_text(INJECTION)
    await say(customer, "/agent")
    await expect(customer.locator("#log .msg.bot").last).to_contain_text("number 1 in the queue")

    waiting = agent.locator("#waiting .item", has_text=number)
    await expect(waiting).to_contain_text(INJECTION)
    await accept_waiting_case(agent, number)
    await expect(agent.locator("#transcript .msg.customer").first).to_contain_text(INJECTION)

    # The agent's text is shown as text too.
    agent_html = '<img src=y onerror="window.__pwned=2"><i>italic</i>'
    await agent.locator("#reply-text").fill(agent_html)
    await agent.locator("#reply-text").press("Enter")
    await expect(customer.locator("#log .msg.agent").last).to_contain_text(agent_html)
    await expect(agent.locator("#transcript .msg.agent").last).to_contain_text(agent_html)

    for page in (customer, agent):
        assert await page.locator("img, b, i").count() == 0
        assert await page.evaluate("typeof window.__pwned") == "undefined"
    pages.assert_no_errors()


async def test_reloading_the_customer_page_resumes_the_conversation(pages: Pages) -> None:
    customer = await open_customer(pages)
    log = customer.locator("#log")
    await say(customer, PROBLEM)
    number = await case_number_in(customer)
    await expect(log.locator(".msg.bot").last).to_contain_text("could you tell me")
    before = await log.locator(".msg").all_inner_texts()
    stored = await customer.evaluate("sessionStorage.getItem('supportbot.conversation')")

    await customer.reload()
    await expect(customer.locator("#status")).to_have_text("connected")
    await expect(log.locator(".msg")).to_have_count(len(before))
    assert await log.locator(".msg").all_inner_texts() == before
    assert await customer.evaluate("sessionStorage.getItem('supportbot.conversation')") == stored

    # The conversation carries on in the same case.
    await say(customer, DETAILS)
    offer = log.locator(".msg.bot", has_text="These help articles may answer your question")
    await expect(offer).to_contain_text("Reset a forgotten password")
    await expect(log.locator(".msg.bot", has_text="I've opened case")).to_have_count(1)
    assert await case_number_in(customer) == number
    pages.assert_no_errors()
