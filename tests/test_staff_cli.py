"""`supportbot staff …` and the demo sign-in links, against a real `supportbot serve` process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.test_restart import CONFIG, Server, healthy, until

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a long enough password"


def staff(server: Server, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bot.cli", "staff", *args, "--config", str(server.workdir / "supportbot.toml"),
               "--store", f"sqlite:///{server.workdir / 'var' / 'bot.db'}"]
    return subprocess.run(command, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:  # unsafe: cookies for 127.0.0.1
        yield session


async def test_passwords_and_tokens_made_on_the_command_line_sign_staff_in(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    (tmp_path / "supportbot.toml").write_text(CONFIG)
    server = Server(tmp_path)
    assert staff(server, "password", "nobody", stdin=PASSWORD).returncode == 2  # not on the roster
    assert staff(server, "password", "ana", stdin="short").returncode == 2
    assert staff(server, "password", "ana", stdin=PASSWORD + "\n").returncode == 0
    made = staff(server, "token", "maya", "--name", "reports")
    assert made.returncode == 0 and made.stdout.startswith("sbt_") and "revoke" in made.stderr
    token = made.stdout.strip()
    server.start()
    try:
        await healthy(http, server)
        async with http.get(f"{server.base}/login") as page:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert csrf is not None
        form = {"name": "ana", "password": PASSWORD, "csrf": csrf.group(1), "next": "/agent"}
        async with http.post(f"{server.base}/login", data=form, allow_redirects=False) as signed_in:
            assert signed_in.status == 303
        async with http.get(f"{server.base}/api/agent/me") as me:
            assert (await me.json())["id"] == "ana"

        bearer = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as script:
            async with script.get(f"{server.base}/api/agent/me", headers=bearer) as me:
                assert (await me.json())["id"] == "maya"
            listed = staff(server, "revoke")
            assert re.search(r"^\s+1\s+maya\s+reports\s", listed.stdout, re.M)
            assert staff(server, "revoke", "1").returncode == 0
            assert staff(server, "revoke", "1").returncode == 2  # already revoked
            async with script.get(f"{server.base}/api/agent/me", headers=bearer) as me:
                assert me.status == 401
    finally:
        server.stop()


async def test_make_run_prints_one_time_sign_in_links_that_open_the_console(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    shutil.copy(ROOT / "supportbot.example.toml", tmp_path / "supportbot.toml")
    server = Server(tmp_path)
    server.start()
    try:
        await healthy(http, server)
        log = tmp_path / "server.log"

        async def links() -> list[str]:
            return re.findall(r"Ana \(agent\): (http://\S+)", log.read_text())

        (link,) = await until(links, what="the sign-in links in the start-up banner")
        for name in ("Ben (agent)", "Tara (tier2)", "Sam (sme)", "Maya (manager)"):
            assert name in log.read_text()
        async with http.get(link, allow_redirects=False) as used:
            assert used.status == 303 and used.headers["Location"] == "/agent"
        async with http.get(f"{server.base}/agent") as console:
            assert console.status == 200 and "Agent console" in await console.text()
        http.cookie_jar.clear()
        async with http.get(link, allow_redirects=False) as again:
            assert again.status == 400  # single use
    finally:
        server.stop()
