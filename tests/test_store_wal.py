"""The write-ahead log on a real SQLite store: it stays within its limit while writes keep coming,
is emptied once the store is idle, and a reader that pins it never stalls the writer."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.domain import Conversation
from bot.store.sqlite import SQLiteStore

LIMIT = 2 << 20  # 2 MiB: a few hundred commits' worth, so the test writes past it in a second or two
PAYLOAD = {"text": "I can't log in to my account, the error says Email not recognised. " * 8}


def wal_bytes(store: SQLiteStore) -> int:
    wal = store.path.with_name(store.path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def write(store: SQLiteStore, n: int) -> float:
    """One group commit of the kind the runtime makes (a delivery recorded, a conversation opened,
    the delivery done); its wall time."""
    started = time.perf_counter()
    async with store.transaction():
        await store.accept_inbound("test", f"e{n}", PAYLOAD, now=started)
        await store.create_conversation(Conversation(f"web:{n}", "web", created_at=started), secret_hash="h")
        await store.finish_inbound("test", f"e{n}", now=started)
    return time.perf_counter() - started


async def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def test_the_log_stays_within_its_limit_while_writes_keep_coming(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "busy.db", checkpoint_interval=0.05, wal_max_bytes=LIMIT)
    await store.open()
    try:
        largest = 0
        for n in range(500):
            await write(store, n)
            largest = max(largest, wal_bytes(store))
            await asyncio.sleep(0.003)  # ~6 MB of log a second: a busy checkpoint thread still keeps up
        # ~10 MB went through a log limited to 2 MiB, whichever way each checkpoint caught up (a
        # passive one that finds no reader resets the log too; under load a forced restart does),
        # and the file never outgrew the limit.
        assert store.checkpoints >= 3
        assert 0 < largest <= LIMIT
        assert await store.conversation("web:499") is not None
    finally:
        await store.close()


async def test_an_idle_store_empties_its_log(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "idle.db", checkpoint_interval=0.05, wal_max_bytes=LIMIT)
    await store.open()
    try:
        for n in range(200):
            await write(store, n)
        assert wal_bytes(store) > 0
        await wait_for(lambda: wal_bytes(store) == 0)
        assert wal_bytes(store) == 0
        assert await store.conversation("web:199") is not None  # everything is in the database file
        probe = sqlite3.connect(store.path)
        assert probe.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        probe.close()
    finally:
        await store.close()


async def test_a_reader_pinning_the_log_never_stalls_the_writer(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A report reading the store keeps the log from starting over; the checkpointer gives up within
    its short busy timeout instead of holding the write lock, warns once, and restarts the log once
    the reader has gone."""
    store = SQLiteStore(tmp_path / "pinned.db", checkpoint_interval=0.05, wal_max_bytes=1 << 20)
    await store.open()
    await write(store, 0)
    reader = sqlite3.connect(store.path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM conversations").fetchone()  # a snapshot: its frames stay needed
    try:
        with caplog.at_level(logging.WARNING, logger="bot.store.checkpoint"):
            slowest = 0.0
            for n in range(1, 1500):
                slowest = max(slowest, await write(store, n))
                await asyncio.sleep(0)
            assert wal_bytes(store) > 1 << 20  # it could not start over
            assert slowest < 0.5  # the writer's own busy timeout is 5 s: it never waited that out
            await wait_for(lambda: any("over its size limit" in r.getMessage() for r in caplog.records))
        assert [r.getMessage() for r in caplog.records].count("wal over its size limit: a reader or writer kept it busy") == 1
        reader.execute("COMMIT")
        restarts = store.wal_restarts
        await write(store, 1500)
        await wait_for(lambda: store.wal_restarts > restarts and wal_bytes(store) == 0)
        assert wal_bytes(store) == 0
    finally:
        reader.close()
        await store.close()
