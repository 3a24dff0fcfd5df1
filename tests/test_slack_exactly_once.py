"""Exactly one reply per acknowledged Slack delivery across `kill -9`: a real `supportbot serve` is
killed mid-load, restarted, and every delivery it had not acknowledged is sent again with the same
event id (as Slack does); then each customer must have been answered exactly once.

The kill lands while Slack holds at least one post it has not answered yet: Slack posts it, the
bot never hears so, and its outbox row is still undelivered when the bot comes back (before the
fix, 0 to 8 customers of 100 per run got their reply twice, and every run now has such a post).
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest

from tests.fake_slack import FakeSlack, SlackSender
from tests.test_restart import SLACK_CONFIG, SLACK_SECRET, Server, healthy, until

CUSTOMERS = 100
IN_FLIGHT = 8  # deliveries Slack has in flight at once
PACE = 0.01  # seconds between deliveries: about 100 a second
LATENCY = 0.03  # seconds Slack takes to answer chat.postMessage (it posts whether or not the caller is still there)


def undelivered(db_path: Path) -> int:
    db = sqlite3.connect(db_path)
    try:
        (count,) = db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").fetchone()
        return int(count)
    finally:
        db.close()


@pytest.mark.parametrize("kill_after", [10, 30, 50, 70, 90])
async def test_each_acknowledged_delivery_is_answered_once_across_kill_9(tmp_path: Path, kill_after: int) -> None:
    """Killed after `kill_after` replies reached Slack, while more are being turned and posted."""
    (tmp_path / "supportbot.toml").write_text(SLACK_CONFIG)
    async with FakeSlack() as slack, aiohttp.ClientSession() as http:
        slack.delay("chat.postMessage", LATENCY)
        server = Server(tmp_path, {"SLACK_BOT_TOKEN": "xoxb-once", "SLACK_SIGNING_SECRET": SLACK_SECRET, "SLACK_API_URL": slack.api_url})
        try:
            server.start()
            await healthy(http, server)
            sender = SlackSender(http, SLACK_SECRET, base_url=server.base, slack=slack)
            await sender.dm("UWARM", "hello", "DWARM")  # the article index is built: turns run at full speed
            await slack.wait_for(lambda calls: any(c.params.get("channel") == "DWARM" for c in calls), timeout=30)
            events = {f"EvONCE{n:04d}": sender.dm_event(f"U{n:04d}", "I forgot my password and cannot sign in", f"D{n:04d}")
                      for n in range(CUSTOMERS)}
            acknowledged: set[str] = set()
            waiting = collections.deque(events)

            async def slack_delivers() -> None:
                while waiting:
                    event_id = waiting.popleft()
                    try:
                        response = await sender.send_event(events[event_id], event_id=event_id)
                    except aiohttp.ClientError:
                        continue  # the server died under it: not acknowledged, Slack will retry
                    if response.status == 200:
                        acknowledged.add(event_id)
                    await asyncio.sleep(PACE * IN_FLIGHT)

            load = [asyncio.create_task(slack_delivers()) for _ in range(IN_FLIGHT)]
            deadline = time.monotonic() + 30
            while (len(slack.posted()) < kill_after or not slack.in_flight("chat.postMessage")) and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            unanswered = slack.in_flight("chat.postMessage")
            server.kill()
            assert unanswered > 0  # posts Slack carries out while the bot is gone
            await asyncio.gather(*load)
            assert acknowledged  # and Slack retries the rest

            server.start()  # Slack retries every delivery that was not acknowledged, with its event id
            await healthy(http, server)
            for event_id in set(events) - acknowledged:
                assert (await sender.send_event(events[event_id], event_id=event_id, retry_num=1)).status == 200

            async def settled() -> bool:
                answered = {c.params.get("channel") for c in slack.posted()}
                return answered >= {e["channel"] for e in events.values()} and undelivered(tmp_path / "var" / "bot.db") == 0

            await until(settled, timeout=60, what="a reply to every delivery and an empty outbox")
            await asyncio.sleep(0.5)  # time for a late second reply to arrive
            replies = collections.Counter(c.params.get("channel") for c in slack.posted())
            twice = sorted(channel for channel, n in replies.items() if n > 1 and channel != "DWARM")
            assert twice == [], f"{len(twice)} of {CUSTOMERS} customers got their reply more than once"
        finally:
            server.stop()
