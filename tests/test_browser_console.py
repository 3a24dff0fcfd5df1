"""The agent console for a working day, and the customer page's article cards, in real headless
Chromium against the real app: what is hidden stays hidden, phone widths, notifications, labels,
timers, flags, the customer's profile, closed-case search, contrast, and screenshots for people."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, Route, expect

from adapters.server import RUNTIME
from bot.events import StaffCommand
from bot.runtime import Runtime
from tests.browser import ARTEFACTS, LiveServer, Pages, browser, e2e_settings, serving  # noqa: F401
from tests.seed import conversation, queued_case, resolved_case
from tests.test_browser_journey import DETAILS, PROBLEM, accept_waiting_case, case_number_in, open_available_agent, open_customer, say

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
ARTICLE_URL = "https://help.example.com/articles/reset-password"
# WCAG 2.1 contrast of every visible piece of text against the background it is drawn on (the
# nearest opaque background up the tree); disabled controls are exempt. Returns the failures.
CONTRAST_CHECK = """() => {
  const rgba = (css) => (css.match(/[\\d.]+/g) || []).map(Number);
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (element) => {
    for (let at = element; at; at = at.parentElement) {
      const [r, g, b, a = 1] = rgba(getComputedStyle(at).backgroundColor);
      if (a >= 0.99) return [r, g, b];
    }
    return [255, 255, 255];
  };
  const failures = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!node.textContent.trim() || !element.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    if (element.closest(":disabled, .sr-only")) continue;
    const [fg, bg] = [luminance(rgba(getComputedStyle(element).color)), luminance(background(element))];
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) failures.push(`${ratio.toFixed(2)} ${element.tagName}.${element.className}: ${node.textContent.trim().slice(0, 40)}`);
  }
  return failures;
}"""


@pytest.fixture
def sla() -> str:
    """`queue_alert_after`: long enough that no SLA alert lands mid-test, unless a test asks for it."""
    return "10m"


@pytest.fixture
async def server(tmp_path: Path, sla: str) -> AsyncIterator[LiveServer]:
    sme_groups = [{"name": "accounts", "classifications": ["Accounts and sign-in"], "members": ["sam"]}]
    async with serving(e2e_settings(tmp_path, timings={"queue_alert_after": sla}, sme_groups=sme_groups)) as running:
        yield running


@pytest.fixture
async def pages(browser: Any, server: LiveServer) -> AsyncIterator[Pages]:  # noqa: F811
    expect.set_options(timeout=10_000)
    opened = Pages(browser, server)
    try:
        yield opened
    finally:
        for context in opened.contexts:
            await context.close()


def runtime_of(pages: Pages) -> Runtime:
    return pages.server.app[RUNTIME]


async def open_named_customer(pages: Pages, name: str) -> Page:
    """The customer page on a conversation opened with the customer's name (POST {"name": ...})."""
    customer = await open_customer(pages)
    await customer.evaluate(
        """async (name) => {
            const r = await fetch("/api/conversations", {method: "POST", body: JSON.stringify({name})});
            sessionStorage.setItem("supportbot.conversation", JSON.stringify(await r.json()));
        }""",
        name,
    )
    await customer.reload()
    await expect(customer.locator("#status")).to_have_text("connected")
    return customer


async def no_horizontal_scroll(page: Page) -> None:
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"scrolls sideways: {widths}"


async def contrast_failures(page: Page) -> list[str]:
    failures: list[str] = await page.evaluate(CONTRAST_CHECK)
    return failures


# ----- tests ----------------------------------------------------------------------------------------


async def test_desktop_and_phone_screenshots_with_no_sideways_scroll_and_readable_contrast(pages: Pages) -> None:
    agent = await open_available_agent(pages)
    await agent.set_viewport_size(DESKTOP)
    customer = await open_named_customer(pages, "Ann Lee")
    await customer.set_viewport_size(DESKTOP)
    await say(customer, PROBLEM)
    number = await case_number_in(customer)
    await say(customer, DETAILS)
    offer = customer.locator("#log .msg.bot", has_text="These help articles may answer your question")
    await expect(offer.locator(".card")).not_to_have_count(0)
    await offer.get_by_role("button", name="I still need help").click()
    await accept_waiting_case(agent, number)
    await agent.locator("#reply-text").fill("Hi Ann, I'm Ana. I've sent you a fresh reset link just now.")
    await agent.locator("#reply-text").press("Enter")
    await agent.locator("#note-text").fill("Link expired twice: check the mail relay #password-reset")
    await agent.get_by_role("button", name="Add note").click()
    await say(customer, "Thanks! Can I speak to a manager about this, though?")
    await expect(agent.locator("#case-meta .flag")).to_have_text(["Manager requested"])
    await expect(agent.locator("#notes .tag")).to_have_text(["#password-reset"])

    await agent.evaluate("document.querySelector('#pane-details').scrollTop = 0")  # the note form scrolled it
    for page, name in ((customer, "customer-chat"), (agent, "agent-console")):
        await page.screenshot(path=str(ARTEFACTS / f"{name}-desktop.png"))
        assert await contrast_failures(page) == [], name
        await no_horizontal_scroll(page)
    await agent.locator("#notices-toggle").click()
    await agent.screenshot(path=str(ARTEFACTS / "agent-console-notifications-desktop.png"))
    await agent.locator("#notices-close").click()

    for page in (customer, agent):
        await page.set_viewport_size(PHONE)
    await customer.screenshot(path=str(ARTEFACTS / "customer-chat-phone.png"))
    await no_horizontal_scroll(customer)
    assert await contrast_failures(customer) == []
    tabs = agent.get_by_role("tab")
    await expect(tabs).to_have_text(["Queue", "Chat", "Details"])
    await expect(agent.locator("#tab-chat")).to_have_attribute("aria-selected", "true")  # picking a case showed it
    for tab, pane in (("Queue", "#pane-queue"), ("Chat", "#pane-chat"), ("Details", "#pane-details")):
        await agent.get_by_role("tab", name=tab).click()
        await expect(agent.locator(pane)).to_be_visible()
        await expect(agent.locator("#console > section:visible")).to_have_count(1)
        await no_horizontal_scroll(agent)
        assert await contrast_failures(agent) == [], tab
        await agent.screenshot(path=str(ARTEFACTS / f"agent-console-{tab.lower()}-phone.png"))
    # the keyboard: arrows move along the tabs, and a case in a list opens with Enter
    await agent.locator("#tab-details").focus()
    await agent.keyboard.press("ArrowRight")
    await expect(agent.locator("#tab-queue")).to_be_focused()
    await expect(agent.locator("#pane-queue")).to_be_visible()
    await agent.locator("#mine .item").first.focus()
    await agent.keyboard.press("Enter")
    await expect(agent.locator("#tab-chat")).to_have_attribute("aria-selected", "true")
    await expect(agent.locator("#reply-text")).to_be_visible()
    pages.assert_no_errors()


async def test_controls_stay_hidden_for_an_sme_and_with_nothing_picked(pages: Pages) -> None:
    sme = await pages.open_as("sam")
    await expect(sme.locator("#status")).to_contain_text("Sam · away")
    await expect(sme.locator("#consults")).to_have_text("No consults for your groups")
    for control in ("#toolbar", "#accept", "#resolve", "#escalate", "#reply", "#reply-text", "#note-form", "#kb-form",
                    "#show-closed", "#escalated", "#profile"):
        assert not await sme.locator(control).is_visible(), control
    # an agent asks Sam's group: Sam sees the consult and its controls, never the customer's chat
    runtime = runtime_of(pages)
    await runtime.handle(StaffCommand("ana", "status", text="available"))
    case = await queued_case(runtime, await conversation(runtime, "Ann"), "Locked out after a password change")
    await runtime.handle(StaffCommand("ana", "accept", case.id))
    await runtime.handle(StaffCommand("ana", "sme", case.id, fields=(("classification", "Accounts and sign-in"), ("notes", "Locked out"))))
    await sme.locator("#consults .item", has_text=case.number).click()
    await expect(sme.locator("#case-title")).to_contain_text(case.number)
    await expect(sme.locator("#consult-claim")).to_be_visible()
    for control in ("#accept", "#resolve", "#escalate", "#ask-manager", "#hold", "#reply", "#note-form", "#profile",
                    "#consult-form", "#consult-end", "#consult-text"):
        assert not await sme.locator(control).is_visible(), control
    await expect(sme.locator("#transcript .msg")).to_have_count(0)
    await sme.locator("#consult-claim").click()
    await expect(sme.locator("#consult-end")).to_be_visible()
    await expect(sme.locator("#consult-text")).to_be_visible()
    await expect(sme.locator("#consult-claim")).to_be_hidden()

    agent = await pages.open_as("ana")
    await expect(agent.locator("#mine .item")).to_contain_text(case.number)
    await expect(agent.locator("#chat-empty")).to_be_visible()
    for control in ("#toolbar", "#accept", "#resolve", "#hold", "#reply", "#case-meta", "#note-form", "#profile", "#consult-form",
                    "#escalated", "#consults"):
        assert not await agent.locator(control).is_visible(), control
    await expect(agent.locator("#kb-form")).to_be_visible()  # searching the help articles needs no case
    for page in (sme, agent):  # no stylesheet rule outranks the hidden attribute
        assert await page.evaluate("[...document.querySelectorAll('[hidden]')].filter((e) => e.checkVisibility()).map((e) => e.id)") == []
    pages.assert_no_errors()


async def test_notices_come_newest_first_with_an_unread_count_that_clears_and_an_optional_beep(pages: Pages) -> None:
    runtime = runtime_of(pages)
    agent = await open_available_agent(pages)
    count_beeps = """() => {
        window.beeps = 0;
        const make = AudioContext.prototype.createOscillator;
        AudioContext.prototype.createOscillator = function () { window.beeps += 1; return make.call(this); };
    }"""
    await agent.evaluate(count_beeps)
    first = await queued_case(runtime, await conversation(runtime, "Ann"), "My export is broken")
    second = await queued_case(runtime, await conversation(runtime, "Bo"), "The video won't play")
    notices = agent.locator("#notices > li")
    await expect(notices.first).to_contain_text(f"New chat waiting: {second.number}")  # newest first
    await expect(notices.nth(1)).to_contain_text(f"New chat waiting: {first.number}")
    await expect(notices.last).to_contain_text("You are now available")
    await expect(notices.first.locator("time")).to_have_text(re.compile(r"^\d\d:\d\d( [AP]M)?$"))
    await expect(notices.first.locator("button")).to_have_text(second.number)
    await expect(agent.locator("#unread-badge")).to_have_text("3")
    await expect(agent).to_have_title("(3) Agent console")
    await expect(agent.locator("#notices-toggle")).to_have_attribute("aria-label", "Notifications, 3 unread")
    await expect(agent.locator("#announcer")).to_have_text(f"Notification: New chat waiting: {second.number} (The video won't play)")
    assert await agent.evaluate("window.beeps") == 0  # the sound is off until asked for

    await agent.locator("#notices-toggle").click()
    await expect(agent.locator("#notices-heading")).to_be_focused()
    await expect(agent.locator("#unread-badge")).to_be_hidden()
    await expect(agent).to_have_title("Agent console")
    await expect(agent.locator("#notices .unread")).to_have_count(0)
    await runtime.handle(StaffCommand("ana", "help"))  # a notice while the list is open is seen at once
    await expect(notices).to_have_count(4)
    await expect(agent.locator("#unread-badge")).to_be_hidden()

    await notices.nth(2).get_by_role("button", name=first.number).click()  # a notice opens its case
    await expect(agent.locator("#notices-panel")).to_be_hidden()
    await expect(agent.locator("#case-title")).to_contain_text(f"{first.number} · queued")
    await runtime.handle(StaffCommand("ana", "help"))
    await expect(agent.locator("#unread-badge")).to_have_text("1")
    await expect(agent).to_have_title("(1) Agent console")

    await agent.locator("#notices-toggle").click()
    await agent.get_by_label("Sound").check()
    assert await agent.evaluate("[window.beeps, localStorage.getItem('supportbot.console.sound')]") == [1, "on"]  # a sample beep
    await agent.reload()
    await expect(agent.locator("#status")).to_contain_text("Ana · available")
    await agent.evaluate(count_beeps)
    await agent.locator("#notices-toggle").click()
    await expect(agent.get_by_label("Sound")).to_be_checked()  # remembered
    await runtime.handle(StaffCommand("ana", "help"))
    await expect(notices).to_have_count(1)
    assert await agent.evaluate("window.beeps") == 1
    pages.assert_no_errors()


@pytest.mark.parametrize("sla", ["2s"])  # a waiting chat turns late within the test
async def test_the_agents_transcript_names_everyone_and_times_the_wait_and_the_first_reply(pages: Pages) -> None:
    agent = await open_available_agent(pages)
    customer = await open_named_customer(pages, "Ann Lee")
    await say(customer, PROBLEM)
    number = await case_number_in(customer)
    await say(customer, "/agent")
    waiting = agent.locator("#waiting .item", has_text=number)
    await expect(waiting).to_contain_text("Ann")
    wait = waiting.locator(".wait")
    await expect(wait).to_have_text(re.compile(r"^waiting 0:0\d / 0:02"))
    await expect(wait).to_have_class(re.compile(r"\blate\b"))  # past queue_alert_after (2 s here)
    await expect(wait).to_have_text(re.compile(r"^waiting 0:\d\d / 0:02 \(late\)$"))

    await accept_waiting_case(agent, number)
    meta = agent.locator("#case-meta")
    await expect(meta.locator(".accepted")).to_have_text(re.compile(r"^with agent 0:0\d$"))
    await expect(meta.locator(".first-reply")).to_have_text(re.compile(r"^no reply yet 0:0\d$"))
    await agent.locator("#reply-text").fill("Hi Ann, Ana here.")
    await agent.locator("#reply-text").press("Enter")
    await expect(meta.locator(".timer-done")).to_have_text(re.compile(r"^first reply after 0:0\d$"))
    await expect(agent.locator("#mine .item .timer-done")).to_have_text(re.compile(r"^first reply after 0:0\d$"))

    transcript = agent.locator("#transcript")
    await expect(transcript.locator(".msg.customer .who").first).to_have_text("Ann")
    await expect(transcript.locator(".msg.bot .who").first).to_have_text("supportbot")
    await expect(transcript.locator(".msg.agent .who")).to_have_text(["Ana"])
    await expect(transcript.locator(".who", has_text=re.compile(r"^You$"))).to_have_count(0)
    stamp = transcript.locator(".msg.agent time")
    await expect(stamp).to_have_text(re.compile(r"^\d\d:\d\d( [AP]M)?$"))
    await expect(stamp).to_have_attribute("title", re.compile(r"\d{4}"))  # the full date on hover
    await expect(customer.locator("#log .msg.customer .who").first).to_have_text("You")  # the customer's own page
    pages.assert_no_errors()


async def test_article_offers_are_cards_with_working_links(pages: Pages) -> None:
    customer = await open_customer(pages)
    await say(customer, PROBLEM)
    await expect(customer.locator("#log .msg.bot").last).to_contain_text("could you tell me")
    await expect(customer.locator("#log .card")).to_have_count(0)  # the intake's bullets are not articles
    await say(customer, f"• Not an article: my bookmark {ARTICLE_URL}")
    await say(customer, DETAILS)
    offer = customer.locator("#log .msg.bot", has_text="These help articles may answer your question")
    card = offer.locator(".card").first
    await expect(card.locator(".card-summary")).to_contain_text("Send yourself a password reset link")
    await expect(card.locator(".card-host")).to_have_text("help.example.com")
    link = card.get_by_role("link", name="Reset a forgotten password")
    await expect(link).to_have_attribute("href", ARTICLE_URL)
    await expect(link).to_have_attribute("target", "_blank")
    await expect(link).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    await expect(offer).not_to_contain_text(ARTICLE_URL)  # a card, not a raw address
    assert await customer.locator("#log .msg.customer .card").count() == 0  # what people type stays text

    async def help_centre(route: Route) -> None:
        await route.fulfill(content_type="text/html", body="<!doctype html><title>Reset a forgotten password</title>")

    await customer.context.route("https://help.example.com/**", help_centre)
    async with customer.context.expect_page() as opened:
        await link.click()
    article = await opened.value
    await expect(article).to_have_url(ARTICLE_URL)
    await expect(article).to_have_title("Reset a forgotten password")
    assert await article.evaluate("window.opener") is None
    pages.assert_no_errors()


async def test_closed_cases_are_found_by_number_tag_and_words(pages: Pages) -> None:
    runtime = runtime_of(pages)
    cid = await conversation(runtime, "Ann Lee")
    export = await resolved_case(runtime, "My grade export is empty", conversation_id=cid, note="Fixed by re-sync #gradebook")
    video = await resolved_case(runtime, "The lesson video won't play", name="Bo")
    later = await resolved_case(runtime, "Export again: grades missing", conversation_id=cid)
    agent = await pages.open_as("ana")
    await expect(agent.locator("#status")).to_contain_text("Ana")
    await agent.get_by_role("button", name="Closed").click()
    closed = agent.locator("#closed .item .num")
    await expect(closed).to_have_text([later.number, video.number, export.number])  # newest first
    await expect(agent.locator("#closed-summary")).to_have_text("3 closed cases, newest first")

    search = agent.get_by_label("Search closed cases")
    for words, found in ((video.number, [video.number]), ("#gradebook", [export.number]), ("video play", [video.number]),
                         ("grade", [later.number, export.number]), ("nothing-like-this", [])):
        await search.fill(words)
        await search.press("Enter")
        await expect(closed).to_have_text(found)
    await expect(agent.locator("#closed-summary")).to_have_text("No closed cases match “nothing-like-this”.")

    await search.fill("#gradebook")
    await search.press("Enter")
    await agent.locator("#closed .item", has_text=export.number).click()
    await expect(agent.locator("#case-title")).to_contain_text(f"{export.number} · closed · Ana")
    for control in ("#accept", "#resolve", "#reply", "#hold"):
        assert not await agent.locator(control).is_visible(), control
    await expect(agent.locator("#note-form")).to_be_visible()  # notes stay append-only, even on a closed case
    await expect(agent.locator("#notes .tag")).to_have_text(["#gradebook"])
    await expect(agent.locator("#notes .note")).to_contain_text("Ana: Fixed by re-sync")
    others = agent.locator("#other-cases .item")
    await expect(others).to_have_count(1)
    await expect(others).to_contain_text(later.number)
    await expect(others).to_contain_text("Export again: grades missing")
    await others.click()
    await expect(agent.locator("#case-title")).to_contain_text(f"{later.number} · resolved · Ana")
    await expect(agent.locator("#profile-name")).to_contain_text("Ann Lee")
    pages.assert_no_errors()
