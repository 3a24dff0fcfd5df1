"""Group commit: units of work that arrive together share one transaction, yet stay independent."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from bot.domain import Conversation
from bot.events import CustomerMessage
from bot.runtime import KEEP_DONE_FOR
from bot.store.sqlite import SQLiteStore
from tests.harness import Desk


def conversation(n: int) -> Conversation:
    return Conversation(f"web:g{n}", "web", created_at=time.time())


async def test_concurrent_events_are_committed_together_and_all_answered(desk: Desk) -> None:
    opened = [conversation(n) for n in range(40)]
    await asyncio.gather(*(desk.runtime.open_conversation(c, secret_hash="h") for c in opened))
    commits_before = desk.store.commits

    replies = await asyncio.gather(
        *(desk.runtime.handle(CustomerMessage(c.id, "My export is broken")) for c in opened)
    )

    assert all(any(a.__class__.__name__ == "Say" for a in actions) for actions in replies)
    assert desk.store.commits - commits_before < len(opened) / 4  # grouped, not one commit each
    for c in opened:  # every reply is durable once its caller hears back
        senders = [e.sender for e in await desk.store.transcript(c.id)]
        assert "customer" in senders and senders[-1] == "bot"


async def test_a_failing_unit_is_undone_alone(desk: Desk) -> None:
    store = desk.store
    first, second = conversation(1), conversation(2)
    await store.create_conversation(first, secret_hash="h")

    results = await asyncio.gather(
        desk.runtime.unit(lambda: store.create_conversation(first, secret_hash="again")),  # duplicate id
        desk.runtime.unit(lambda: store.create_conversation(second, secret_hash="h")),
        return_exceptions=True,
    )

    assert isinstance(results[0], sqlite3.IntegrityError) and results[1] is True  # created
    assert await store.conversation(second.id) is not None
    assert await store.conversation_secret(first.id) == "h"


async def test_a_unit_that_fails_halfway_leaves_none_of_its_writes(desk: Desk) -> None:
    store = desk.store

    async def half_done() -> None:
        await store.create_conversation(conversation(1), secret_hash="h")
        raise RuntimeError("failed after its first write")

    results = await asyncio.gather(
        desk.runtime.unit(half_done),
        desk.runtime.unit(lambda: store.create_conversation(conversation(2), secret_hash="h")),
        return_exceptions=True,
    )

    assert isinstance(results[0], RuntimeError) and results[1] is True  # created
    assert await store.conversation("web:g1") is None
    assert await store.conversation("web:g2") is not None


async def test_a_caller_that_went_away_does_not_stop_the_group(desk: Desk) -> None:
    store = desk.store
    gone = asyncio.ensure_future(desk.runtime.unit(lambda: store.create_conversation(conversation(1), secret_hash="h")))
    kept = asyncio.ensure_future(desk.runtime.unit(lambda: store.create_conversation(conversation(2), secret_hash="h")))
    await asyncio.sleep(0)  # both are queued
    gone.cancel()

    await kept
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await store.conversation("web:g1") is not None  # its work was committed all the same
    assert await store.conversation("web:g2") is not None


async def test_the_write_ahead_log_is_checkpointed_off_the_event_loop(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "wal.db", checkpoint_interval=0.05)
    await store.open()
    try:
        for n in range(50):
            await store.create_conversation(conversation(n), secret_hash="h")
        deadline = time.monotonic() + 5
        while store.checkpoints == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert store.checkpoints > 0
        probe = sqlite3.connect(tmp_path / "wal.db", isolation_level=None)
        busy, log_frames, copied = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        probe.close()
        assert (busy, copied) == (0, log_frames)  # everything written is in the database file
    finally:
        await store.close()


async def test_urgent_units_are_committed_ahead_of_queued_work(desk: Desk) -> None:
    """A platform's delivery waits for its record before it may acknowledge: it is not kept
    waiting behind a backlog of bot turns."""
    store, order = desk.store, []

    async def turn(n: int) -> None:
        await store.create_conversation(conversation(n), secret_hash="h")
        order.append(f"turn {n}")

    async def record() -> bool:
        order.append("record")
        return await store.accept_inbound("slack", "evt-1", {"n": 1}, now=time.time())

    backlog = [asyncio.ensure_future(desk.runtime.unit(lambda n=n: turn(n))) for n in range(100)]
    await asyncio.sleep(0)  # the writer has taken the first group of turns
    recorded = asyncio.ensure_future(desk.runtime.unit(record, urgent=True))

    assert await recorded is True
    await asyncio.gather(*backlog)
    assert order.index("record") <= 32  # after the group that was being written, ahead of the rest
    assert len(order) == 101


async def test_delivered_rows_and_handled_deliveries_are_forgotten_after_a_day(desk: Desk) -> None:
    """The runtime owns the outbox, so it keeps it (and the platforms' inbox) from growing for ever,
    whichever durable adapter wrote to it."""
    cid = await desk.customer()
    await desk.say(cid, "I forgot my password")
    assert await desk.store.accept_inbound("slack", "evt-1", {"n": 1}, now=desk.clock.now())
    await desk.store.finish_inbound("slack", "evt-1", now=desk.clock.now())
    assert await desk.runtime.deliver_outbox() > 0

    def rows() -> tuple[int, int]:
        db = sqlite3.connect(desk.store.path)
        try:
            (outbox,) = db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NOT NULL").fetchone()
            (inbox,) = db.execute("SELECT COUNT(*) FROM inbox").fetchone()
        finally:
            db.close()
        return int(outbox), int(inbox)

    delivered, handled = rows()
    assert delivered > 0 and handled == 1
    assert await desk.runtime.forget_done() == 0 and rows() == (delivered, 1)  # younger than a day: kept
    desk.clock.advance(KEEP_DONE_FOR + 1)
    assert await desk.runtime.forget_done() == 1
    assert rows() == (0, 0)
    assert await desk.store.accept_inbound("slack", "evt-1", {"n": 1}, now=desk.clock.now())  # a day on: new again
