"""WAL checkpoints on a thread of their own, so that the event loop never waits for a disk flush,
and a log that stays within its size limit under sustained load.

In WAL mode with synchronous=NORMAL a commit only appends to the log; the flush to disk happens
when the log is copied back into the database (a checkpoint). SQLite does that automatically
inside whichever commit crosses 1,000 pages, so every few hundred bot turns one commit stalled
the event loop for the checkpoint's fsync (measured: a commit's wall time fell from ~0.9 ms to
~0.3 ms on average without it, and the stalls were the slowest replies). Here the committing
connection never checkpoints; this thread does, with its own connection, only after writes and
every `interval` seconds (sooner while the log grows fast, below). sqlite3 releases the GIL while
it works, so the loop keeps serving.

A PASSIVE checkpoint never blocks the writer, but alone it let the log grow without bound: a
commit writes from the file's start again only when it finds every frame copied, and under
sustained load new frames always arrive during the copy (bench/wal_bench.py: the file grew by
about 36 MB a second under the web chat load, 1.4 GB for a 60 MB database after 40 s). So:

- once a PASSIVE pass finds the log holding more than half of `max_bytes`, a RESTART checkpoint
  follows: it takes the write lock, copies what was written during the PASSIVE pass (a few
  milliseconds) and makes the next commit write from the file's start again, over the same bytes.
  Not TRUNCATE under load: emptying the file inside the lock costs an ftruncate of tens of MB
  (8 ms for 35 MB here), and the commits after it grow the file again;
- the writer steps aside for it: the store's next transaction waits, awaiting so that the event
  loop keeps serving, until the RESTART is done (`make_way`). Left to SQLite's busy handler the
  loop would stall meanwhile, and a writer nearly always in a transaction, as the runtime's group
  commits are under load, kept the lock from the checkpoint (tests/test_store_wal.py). The few
  writes made outside `transaction()` still wait in the busy handler;
- the next pass comes sooner than `interval` when, at the rate the log grew since the last one,
  it would gain more than a quarter of `max_bytes` meanwhile, so a restart is never late (the first
  pass after an idle spell comes after a tenth of `interval`, to learn the rate);
- after an interval without writes, and at close, a TRUNCATE checkpoint empties the file;
- the store's connection has `journal_size_limit = max_bytes` (sqlite.py), so whenever the log
  starts over a file that had grown past the limit is cut back to it.

A reader that keeps a snapshot open (a report on a big store) pins the log: the RESTART gives up
after its short busy timeout instead of holding the write lock, is not tried again before an
interval is up, and a warning says so once the file passes the limit.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_WAL_MAX_BYTES = 64 * 1024 * 1024
_FRAME_HEADER_BYTES = 24  # before each page in the log (sqlite.org/fileformat2.html#walformat)
_BUSY_TIMEOUT_MS = 20
_HANDOVER_WAIT_S = 0.05  # for the writer to step aside before a RESTART; an idle store never comes
_STEP_ASIDE_MAX_S = 0.5  # the longest a transaction stays aside (the checkpoint takes milliseconds)


class Checkpointer:
    def __init__(self, path: Path, *, interval: float = 1.0, max_bytes: int = DEFAULT_WAL_MAX_BYTES) -> None:
        self.path = path
        self.wal = path.with_name(path.name + "-wal")
        self.interval = interval
        self.max_bytes = max_bytes
        self._wrote = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sqlite-checkpoint", daemon=True)
        self.done = 0  # checkpoints run so far
        self.restarted = 0  # of which made the log start over (RESTART, TRUNCATE)
        self._over_limit_warned = False
        self._wants_writer = threading.Event()  # a RESTART or TRUNCATE is about to take the write lock
        self._writer_aside = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def wrote(self) -> None:
        """Called after a commit: a checkpoint is due at the next tick."""
        self._wrote.set()

    def stop(self) -> None:
        """Stops the thread after a last checkpoint of what was written, which empties the log."""
        self._stop.set()
        self._wrote.set()
        self._thread.join()

    async def make_way(self) -> None:
        """Called before a transaction: while a RESTART or TRUNCATE wants the write lock, waits
        (without blocking the event loop) until it is done."""
        if not self._wants_writer.is_set():
            return
        self._writer_aside.set()
        give_up = time.monotonic() + _STEP_ASIDE_MAX_S
        while self._wants_writer.is_set() and time.monotonic() < give_up:
            await asyncio.sleep(0.001)

    def _loop(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            frame_bytes = _FRAME_HEADER_BYTES + db.execute("PRAGMA page_size").fetchone()[0]
            wait, seen, since = self.interval / 10, 0, None  # after an idle spell: a first pass soon, to pace the rest
            while True:
                self._wrote.wait()
                since = time.monotonic() if since is None else since
                self._stop.wait(wait)
                self._wrote.clear()
                _, frames = self._checkpoint(db, "PASSIVE")
                now = time.monotonic()
                grew = (frames - seen if frames >= seen else frames) * frame_bytes  # fewer: it started over
                wait, seen, since = self._pace(wait, grew, now - since), frames, now
                if frames * frame_bytes > self.max_bytes // 2:
                    if self._exclusive(db, "RESTART"):
                        seen = 0
                    else:  # a reader pins the log: no more parking the writer for it until an interval is up
                        wait = self.interval
                if self._stop.is_set() or not self._wrote.wait(self.interval):
                    if self._exclusive(db, "TRUNCATE"):
                        seen = 0
                    wait, since = self.interval / 10, None
                if self._stop.is_set():
                    return
        finally:
            db.close()

    def _exclusive(self, db: sqlite3.Connection, mode: str) -> bool:
        """A checkpoint that takes the write lock, once the writer has stepped aside (`make_way`);
        whether it completed."""
        self._writer_aside.clear()
        self._wants_writer.set()
        try:
            if not self._stop.is_set():  # when stopping, the store has closed: no writer will come
                self._writer_aside.wait(_HANDOVER_WAIT_S)
            return self._checkpoint(db, mode)[0]
        finally:
            self._wants_writer.clear()

    def _pace(self, wait: float, grew: int, seconds: float) -> float:
        """Seconds until the next pass: `interval`, or less (down to a tenth of it) when the log,
        growing as it did by `grew` bytes in the last `seconds`, would gain a quarter of the limit
        sooner. No growth seen (the log had just started over) leaves `wait` as it was."""
        if grew <= 0:
            return wait
        return min(self.interval, max(self.interval / 10, seconds * self.max_bytes / 4 / grew))

    def _checkpoint(self, db: sqlite3.Connection, mode: str) -> tuple[bool, int]:
        """One checkpoint: whether it completed (RESTART and TRUNCATE need the write lock and every
        reader out of the log) and the frames the log held."""
        try:
            busy, frames, _ = db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:  # locked now: the next pass tries again
            log.warning("wal checkpoint failed", extra={"mode": mode, "error": str(exc)})
            return False, 0
        self.done += 1
        if mode != "PASSIVE" and not busy:
            self.restarted += 1
            self._over_limit_warned = False
        elif busy and not self._over_limit_warned and (size := self._wal_bytes()) > self.max_bytes:
            self._over_limit_warned = True  # once until a restart succeeds: it is retried every pass
            log.warning("wal over its size limit: a reader or writer kept it busy",
                        extra={"wal_bytes": size, "max_bytes": self.max_bytes})
        return not busy, max(int(frames), 0)  # -1 when another checkpoint held the log

    def _wal_bytes(self) -> int:
        try:
            return self.wal.stat().st_size
        except FileNotFoundError:
            return 0
