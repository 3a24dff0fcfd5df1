"""Staff sign-in in real headless Chromium: the password form, single sign-on through a local
OpenID Connect provider, sign-out, and a page on another origin that tries the console's websocket."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, expect

from adapters.server import RUNTIME
from bot.credentials import hash_password
from tests.browser import ARTEFACTS, LiveServer, Pages, browser, e2e_settings, live_server, pages, serving  # noqa: F401
from tests.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOidc
from tests.harness import ROSTER

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"
TO_LOGIN = re.compile(r"/login\?next=(/|%2F)agent$")


async def test_an_agent_signs_in_with_a_password_works_and_signs_out(pages: Pages, live_server: LiveServer) -> None:
    await live_server.app[RUNTIME].store.accounts.set_password("ana", hash_password(PASSWORD), now=time.time())
    console = await pages.open("/agent")
    await expect(console).to_have_url(TO_LOGIN)
    await console.locator("#name").fill("ana")
    await console.locator("#password").fill("not it at all")
    await console.locator("#sign-in").click()
    await expect(console.locator("#error")).to_have_text("Wrong name or password.")
    await console.screenshot(path=str(ARTEFACTS / "sign-in.png"))

    await console.locator("#password").fill(PASSWORD)
    await console.locator("#sign-in").click()
    await expect(console).to_have_url(f"{live_server.url}/agent")
    await expect(console.locator("#who")).to_have_text("Signed in as Ana (agent)")
    await expect(console.locator("#status")).to_contain_text("Ana · away")
    await console.locator("#available").click()
    await expect(console.locator("#status")).to_contain_text("Ana · available")

    await console.get_by_role("button", name="Sign out").click()
    await expect(console).to_have_url(re.compile(r"/login(\?next=(/|%2F)agent)?$"))  # the console's closed socket may add next=
    await expect(console.locator("#sign-in")).to_be_visible()
    await console.goto("/agent")
    await expect(console).to_have_url(TO_LOGIN)
    pages.assert_no_errors()


async def test_a_page_on_another_origin_cannot_open_the_console_websocket(pages: Pages, live_server: LiveServer) -> None:
    """Ana is signed in; a page of another origin on the same site (another port: the browser sends
    her SameSite=Lax cookie with it) tries her console's socket."""
    console = await pages.open_as("ana")
    await expect(console.locator("#who")).to_have_text("Signed in as Ana (agent)")
    async def elsewhere_page(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>elsewhere</title>", content_type="text/html")

    foreign = web.Application()
    foreign.router.add_get("/", elsewhere_page)
    runner = web.AppRunner(foreign)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        elsewhere = await console.context.new_page()
        await elsewhere.goto(f"http://127.0.0.1:{runner.addresses[0][1]}/")
        outcome = await elsewhere.evaluate(
            """(url) => new Promise((resolve) => {
                const socket = new WebSocket(url);
                socket.onopen = () => { socket.send(JSON.stringify({type: "command", command: "note", case_id: 1, text: "planted"})); resolve("opened"); };
                socket.onerror = () => resolve("refused");
            })""",
            live_server.url.replace("http", "ws") + "/api/agent/ws",
        )
        assert outcome == "refused"
    finally:
        await runner.cleanup()


@pytest.fixture
async def provider() -> AsyncIterator[FakeOidc]:
    async with FakeOidc() as running:
        yield running


async def test_single_sign_on_through_the_identity_providers_page(browser: Browser, provider: FakeOidc, tmp_path: Path) -> None:  # noqa: F811
    roster = [{**e, "email": f"{e['id']}@school.org"} for e in ROSTER]
    settings = e2e_settings(tmp_path, roster=roster,
                            auth={"oidc_issuer": provider.issuer, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET})
    async with serving(settings) as server:
        opened = Pages(browser, server)
        try:
            console = await opened.open("/agent")
            await console.get_by_role("link", name="Sign in with single sign-on").click()
            await expect(console).to_have_title("Test identity provider")
            await console.locator("#email").fill("tara@school.org")
            await console.locator("#continue").click()
            await expect(console).to_have_url(f"{server.url}/agent")
            await expect(console.locator("#who")).to_have_text("Signed in as Tara (tier2)")
            await expect(console.locator("#escalated-title")).to_be_visible()
            opened.assert_no_errors()
        finally:
            for context in opened.contexts:
                await context.close()
