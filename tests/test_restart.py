"""`kill -9` of a real `supportbot serve` mid-journey loses nothing (web chat and Slack deliveries), and its timers still fire."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fake_slack import FakeSlack, SlackSender

CONFIG = """
[timings]
article_check_after = "8s"
queue_alert_after = "12s"

[business_hours]
open = "00:00"
close = "24:00"

[[roster]]
id = "ana"
name = "Ana"
role = "agent"

[[roster]]
id = "maya"
name = "Maya"
role = "manager"
on_duty = true
"""
DETAILS = "My user ID is 48213, I use Chrome, my email is ann@school.org, the error says 'Invalid password', steps: I typed it twice."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """A `supportbot serve` child process on a loopback port."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.env = env or {}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "bot.cli", "serve", "--config", str(self.workdir / "supportbot.toml"),
                   "--port", str(self.port), "--store", f"sqlite:///{self.workdir / 'var' / 'bot.db'}"]
        log = (self.workdir / "server.log").open("ab")
        root = Path(__file__).resolve().parent.parent
        self.process = subprocess.Popen(command, cwd=root, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(root), **self.env})

    def staff_token(self, staff_id: str) -> dict[str, str]:
        """An Authorization header, from `supportbot staff token` run against this server's store."""
        command = [sys.executable, "-m", "bot.cli", "staff", "token", staff_id, "--config", str(self.workdir / "supportbot.toml"),
                   "--store", f"sqlite:///{self.workdir / 'var' / 'bot.db'}"]
        root = Path(__file__).resolve().parent.parent
        made = subprocess.run(command, cwd=root, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(root)})
        return {"Authorization": f"Bearer {made.stdout.strip()}"}

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "supportbot.toml").write_text(CONFIG)
    running = Server(tmp_path)
    yield running
    running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def until(check: Callable[[], Any], *, timeout: float = 20.0, what: str = "condition") -> Any:
    """Polls on real time: the server runs its own clock, so this waits for seconds, never minutes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = await check()
        except aiohttp.ClientError:
            result = None
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def healthy(http: aiohttp.ClientSession, server: Server) -> None:
    async def check() -> bool:
        async with http.get(f"{server.base}/healthz") as response:
            return response.status == 200

    await until(check, what="a healthy /healthz")


class Customer:
    def __init__(self, http: aiohttp.ClientSession, server: Server, cid: str, token: str) -> None:
        self.http, self.server, self.cid = http, server, cid
        self.auth = {"Authorization": f"Bearer {token}"}

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, server: Server) -> Customer:
        async with http.post(f"{server.base}/api/conversations", json={}) as response:
            body = await response.json()
        return cls(http, server, body["id"], body["token"])

    async def say(self, text: str) -> None:
        async with self.http.post(f"{self.server.base}/api/conversations/{self.cid}/messages", json={"text": text}, headers=self.auth) as r:
            assert r.status == 202

    async def press(self, label: str) -> None:
        button = next(b for m in reversed(await self.messages()) for b in m["buttons"] if b["label"] == label)
        body = {"action": {"id": button["id"], "value": button["value"]}}
        async with self.http.post(f"{self.server.base}/api/conversations/{self.cid}/messages", json=body, headers=self.auth) as r:
            assert r.status == 202

    async def messages(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.server.base}/api/conversations/{self.cid}/messages", headers=self.auth) as response:
            assert response.status == 200
            result: list[dict[str, Any]] = (await response.json())["messages"]
            return result

    async def saw(self, fragment: str) -> bool:
        return any(fragment in m["text"] for m in await self.messages())


async def test_kill_9_mid_journey_loses_nothing(server: Server, http: aiohttp.ClientSession) -> None:
    ana, maya = server.staff_token("ana"), server.staff_token("maya")
    server.start()
    await healthy(http, server)

    # Ana is available, so the second customer is queued for her rather than sent to the offline path.
    async with http.ws_connect(f"{server.base}/api/agent/ws", headers=ana) as agent:
        await agent.receive_json(timeout=10)
        await agent.send_json({"type": "command", "command": "status", "text": "available"})

        reader = await Customer.open(http, server)  # will have an article offer pending its 8 s check
        await reader.say(f"I forgot my password and can't log in. {DETAILS}")
        await until(lambda: reader.saw("help articles may answer"), what="an article offer")

        waiter = await Customer.open(http, server)  # will be waiting in the queue, its 12 s alert pending
        await waiter.say(f"I forgot my password and can't log in. {DETAILS}")
        await until(lambda: waiter.saw("help articles may answer"), what="a second offer")
        await waiter.press("I still need help")
        await until(lambda: waiter.saw("number 1 in the queue"), what="queue position")
        before = {c.cid: await c.messages() for c in (reader, waiter)}
        assert not await reader.saw("Did the article answer")  # the check is still pending

        server.kill()  # mid-journey: a check and an alert are pending, a chat is waiting

    server.start()
    await healthy(http, server)
    # the manager's console is open before the waiting chat's alert falls due
    async with http.ws_connect(f"{server.base}/api/agent/ws", headers=maya) as manager:
        for customer in (reader, waiter):  # transcripts are whole
            after = await customer.messages()
            assert after[: len(before[customer.cid])] == before[customer.cid]

        # the pending article check fires after the restart
        await until(lambda: reader.saw("Did the article answer your question?"), what="the article check after restart")

        # the waiting chat is still waiting, and its alert still reaches the manager on duty
        deadline = time.monotonic() + 30
        state: dict[str, Any] = {}
        alert: dict[str, Any] = {}
        while time.monotonic() < deadline and not alert:
            frame: dict[str, Any] = await manager.receive_json(timeout=30)
            if frame["type"] == "state" and not state:
                state = frame
            if frame["type"] == "notice" and frame["kind"] == "sla_alert":
                alert = frame
    assert [c["number"] for c in state["waiting"]] == ["CS-000002"]
    assert state["team"][0]["online"] is False  # no console connection survives a restart
    assert "CS-000002" in alert["text"]

    def pending_outbox() -> int:
        db = sqlite3.connect(server.workdir / "var" / "bot.db")
        try:
            (count,) = db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").fetchone()
        finally:
            db.close()
        return int(count)

    assert pending_outbox() == 0  # nothing is left undelivered


def test_a_bad_setting_stops_start_up_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[timings]\narticle_check_after = "soon"\n')
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--config", str(tmp_path / "bad.toml"), "--port", str(free_port())],
        cwd=root, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert result.returncode == 2
    assert "timings.article_check_after" in result.stderr


def test_a_port_in_use_or_an_unusable_store_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    """What a newcomer hits first (`make run` twice, a store path they cannot write): a line that says
    what to do, exit code 2, never a traceback."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    (tmp_path / "empty.toml").write_text("")

    def serve(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--config", str(tmp_path / "empty.toml"), *extra],
                              cwd=root, capture_output=True, text=True, timeout=60, env=env)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = serve("--port", str(port), "--store", f"sqlite:///{tmp_path / 'a.db'}")
    assert busy.returncode == 2 and "the port is in use" in busy.stderr and "Traceback" not in busy.stderr
    assert "is running" not in busy.stdout  # nothing claims to be running

    (tmp_path / "file").write_text("not a folder")
    unusable = serve("--port", str(free_port()), "--store", f"sqlite:///{tmp_path / 'file' / 'bot.db'}")
    assert unusable.returncode == 2 and "Traceback" not in unusable.stderr
    assert unusable.stderr.startswith("supportbot: cannot ")


def test_environment_overrides_reach_the_server(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "SUPPORTBOT_QUEUE__AGENT_CAPACITY": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(free_port())],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env,
    )
    assert result.returncode == 2
    assert "queue.agent_capacity" in result.stderr


SLACK_SECRET = "restart-signing-secret"
SLACK_CONFIG = CONFIG + """
[slack]
queue_channel = "CQUEUE"
channel_pace = "0s"
"""


async def test_kill_9_with_slack_deliveries_in_flight_answers_each_exactly_once(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """Acknowledged Slack deliveries survive a `kill -9` wherever they were: still in the inbox, or
    turned but their reply not yet posted. After the restart each is answered once, and Slack's
    retry of one of them is dropped."""
    (tmp_path / "supportbot.toml").write_text(SLACK_CONFIG)
    async with FakeSlack() as slack:
        env = {"SLACK_BOT_TOKEN": "xoxb-restart", "SLACK_SIGNING_SECRET": SLACK_SECRET, "SLACK_API_URL": slack.api_url}
        server = Server(tmp_path, env)
        try:
            server.start()
            await healthy(http, server)
            slack.fail("chat.postMessage", times=100_000, status=500)  # Slack posts nothing before the crash
            sender = SlackSender(http, SLACK_SECRET, base_url=server.base, slack=slack)
            events = [sender.dm_event(f"U{n:04d}", "I forgot my password and cannot sign in", f"D{n:04d}") for n in range(30)]
            ids = [f"EvRESTART{n:04d}" for n in range(30)]

            async def deliver(batch: range) -> None:
                acks = await asyncio.gather(*(sender.send_event(events[n], event_id=ids[n]) for n in batch))
                assert [a.status for a in acks] == [200] * len(batch)

            turned, recorded = range(15), range(15, 30)
            await deliver(turned)  # these are turned and their replies tried (and refused) before the crash

            async def tried() -> bool:
                return {c.params.get("channel") for c in slack.attempts_to("chat.postMessage")} >= {events[n]["channel"] for n in turned}

            await until(tried, what="a reply attempt for the first deliveries")
            await deliver(recorded)  # these are killed right after their acknowledgement
            server.kill()

            db = sqlite3.connect(tmp_path / "var" / "bot.db")
            try:
                waiting = {str(c) for (c,) in db.execute(
                    "SELECT json_extract(payload, '$.event.channel') FROM inbox WHERE source = 'slack' AND done_at IS NULL")}
                unsent = {str(c).removeprefix("slack:") for (c,) in db.execute(
                    "SELECT json_extract(payload, '$.conversation_id') FROM outbox WHERE delivered_at IS NULL AND adapter = 'slack'")}
            finally:
                db.close()
            assert unsent >= {events[n]["channel"] for n in turned}  # turned: the reply waits in the outbox
            assert waiting | unsent >= {e["channel"] for e in events}  # every acknowledged delivery is somewhere

            slack.reset()  # Slack is back
            server.start()
            await healthy(http, server)

            def opened(channel: str) -> list[str]:
                return [t for t in slack.posted_texts(channel) if "I've opened case" in t]

            async def all_answered() -> bool:
                return all(opened(e["channel"]) for e in events)

            await until(all_answered, what="a reply to every acknowledged delivery")
            retry = await sender.send_event(events[0], event_id=ids[0], retry_num=1)
            assert retry.status == 200
            await asyncio.sleep(1.0)  # time for any second reply to arrive
            replies = [opened(e["channel"]) for e in events]
            assert [len(r) for r in replies] == [1] * 30
            numbers = {text.split("I've opened case ")[1][:9] for (text,) in replies}
            assert len(numbers) == 30  # one case each
        finally:
            server.stop()
