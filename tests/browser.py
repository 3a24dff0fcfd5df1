"""Fixtures for browser tests: the real app on a free local port, and headless Chromium via Playwright.

Import the fixtures into a test module (`from tests.browser import browser, live_server, pages  # noqa: F401`).
The machine running these tests may have no internet, so Chromium is launched with background
networking off, and a missing browser fails the test loudly (never a skip) with what to install.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from adapters.server import RUNTIME, create_app
from adapters.settings import build_settings
from bot.config import Settings
from tests.harness import ROSTER
from tests.staff import link_path

NO_CHROMIUM = (
    "No Chromium found: install Debian's `chromium` (apt-get install chromium) "
    "or run `.venv/bin/playwright install chromium` (needs internet)"
)
SYSTEM_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 10_000
ARTEFACTS = Path(__file__).resolve().parent.parent / "var" / "test-artefacts"  # screenshots, for a person to look at
ARTEFACTS.mkdir(parents=True, exist_ok=True)


class ChromiumNotFound(RuntimeError):
    """Neither a system Chromium nor Playwright's own download is installed."""


def _playwright_browsers_dirs() -> list[Path]:
    configured = os.environ.get("PLAYWRIGHT_BROWSERS_PATH", "")
    if configured == "0":  # browsers installed inside the playwright package
        import playwright

        return [Path(playwright.__file__).parent / "driver" / "package" / ".local-browsers"]
    if configured:
        return [Path(configured)]
    if sys.platform == "darwin":
        return [Path.home() / "Library" / "Caches" / "ms-playwright"]
    if sys.platform.startswith("win"):
        return [Path(os.environ.get("LOCALAPPDATA", str(Path.home()))) / "ms-playwright"]
    return [Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "ms-playwright"]


def _playwright_chromium_installed() -> bool:
    for folder in _playwright_browsers_dirs():
        for pattern in ("chromium-*", "chromium_headless_shell-*"):
            for candidate in glob.glob(str(folder / pattern)):
                if any(Path(candidate).iterdir()):
                    return True
    return False


def chromium_executable() -> str | None:
    """A system Chromium's path; None when Playwright's own Chromium should be used.

    Raises ChromiumNotFound (whose message says what to install) when there is neither.
    """
    for name in SYSTEM_CHROMIUMS:
        found = shutil.which(name)
        if found:
            return found
    if _playwright_chromium_installed():
        return None
    raise ChromiumNotFound(NO_CHROMIUM)


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: web.Application


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[LiveServer]:
    """The real application with `settings` (real clock, background loops) on a free 127.0.0.1 port."""
    app = create_app(settings, background=True)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        await runner.cleanup()


def e2e_settings(tmp_path: Path, **sections: Any) -> Settings:
    """The SQLite store in `tmp_path`, bundled help articles, always-open hours and the test roster;
    `sections` add to (or override keys of) those."""
    raw: dict[str, Any] = {
        "server": {"store": f"sqlite:///{tmp_path}/e2e.db"},
        "business_hours": {"open": "00:00", "close": "24:00"},
        "roster": ROSTER,
    }
    for name, values in sections.items():
        raw[name] = {**raw[name], **values} if isinstance(raw.get(name), dict) else values
    return build_settings(raw)


@pytest.fixture
async def live_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with serving(e2e_settings(tmp_path)) as server:
        yield server


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium; fails, never skips, when none is installed."""
    missing = ""
    try:
        executable = chromium_executable()
    except ChromiumNotFound as exc:
        missing = str(exc)
    if missing:
        pytest.fail(missing, pytrace=False)
    async with async_playwright() as playwright:
        try:
            launched = await playwright.chromium.launch(
                headless=True, args=CHROMIUM_ARGS, executable_path=executable
            )
        except Exception as exc:  # noqa: BLE001 - a broken install must say what to do
            pytest.fail(f"Chromium did not start ({exc}). {NO_CHROMIUM}", pytrace=False)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Pages:
    """Opens pages, each in its own browser context (own sessionStorage), and records page errors."""

    browser: Browser
    server: LiveServer
    contexts: list[BrowserContext] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self, path: str) -> Page:
        context = await self.browser.new_context(base_url=self.server.url)
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{path}: {error}"))
        await page.goto(path)
        return page

    async def open_as(self, staff_id: str) -> Page:
        """The agent console, signed in as `staff_id` through a one-time sign-in link."""
        return await self.open(await link_path(self.server.app[RUNTIME].store, staff_id))

    def assert_no_errors(self) -> None:
        assert not self.errors, f"uncaught JavaScript errors: {self.errors}"


@pytest.fixture
async def pages(browser: Browser, live_server: LiveServer) -> AsyncIterator[Pages]:
    """Pages on the live server; contexts close before the server stops."""
    expect.set_options(timeout=TIMEOUT_MS)
    opened = Pages(browser, live_server)
    try:
        yield opened
    finally:
        for context in opened.contexts:
            await context.close()
