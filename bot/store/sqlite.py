"""The embedded store: one SQLite file in WAL mode, used directly from the event loop.

Each store call is one short unit of work (a whole load, or a whole commit in one transaction).
WAL with synchronous=NORMAL commits without an fsync, in well under a millisecond, and still
survives a `kill -9` of the process without losing a committed transaction. Measured under load
(bench/), handing each unit to a worker thread (as aiosqlite does per statement) cost more than
the work itself: thread hops and GIL hand-offs halved throughput. So the calls run inline; the
async signatures keep the protocol the same as a networked store's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bot import codec
from bot.domain import OPEN_STATES, AgentState, AgentStatus, Case, CaseState, Conversation
from bot.events import (
    Action,
    Cancel,
    Heard,
    RecordConsultMessage,
    RecordHandleTime,
    RecordNote,
    RecordOffer,
    RecordOfferOutcome,
    RecordSurvey,
    RecordTicket,
    Say,
    Schedule,
)
from bot.ports import encode
from bot.store import sqlite_accounts
from bot.store.checkpoint import DEFAULT_WAL_MAX_BYTES, Checkpointer
from bot.store.base import Backlog, DueTimer, InboundEntry, NoteEntry, OutboxEntry, Routed, StoreError, TranscriptEntry
from bot.world import Loaded, World

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, platform TEXT NOT NULL, secret_hash TEXT NOT NULL, data TEXT NOT NULL,
    created_at REAL NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS cases (
    id INTEGER PRIMARY KEY, number TEXT NOT NULL UNIQUE, conversation_id TEXT NOT NULL,
    state TEXT NOT NULL, agent_id TEXT, data TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS cases_state ON cases (state);
CREATE INDEX IF NOT EXISTS cases_agent ON cases (agent_id);
CREATE TABLE IF NOT EXISTS messages (
    conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, case_id INTEGER, sender TEXT NOT NULL,
    sender_name TEXT NOT NULL, text TEXT NOT NULL, buttons TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (conversation_id, seq));
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, case_id INTEGER NOT NULL, author_id TEXT NOT NULL,
    text TEXT NOT NULL, tags TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS notes_case ON notes (case_id);
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY, case_id INTEGER NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL,
    due_at REAL NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS tickets_case ON tickets (case_id);
CREATE TABLE IF NOT EXISTS offers (
    id INTEGER PRIMARY KEY AUTOINCREMENT, case_id INTEGER NOT NULL, event TEXT NOT NULL,
    article_ids TEXT NOT NULL, query TEXT NOT NULL, scores TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS offers_case ON offers (case_id);
CREATE TABLE IF NOT EXISTS surveys (
    case_id INTEGER PRIMARY KEY, rating INTEGER NOT NULL, comment TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS consult_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, case_id INTEGER NOT NULL, consult INTEGER NOT NULL,
    author_id TEXT NOT NULL, text TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS consult_messages_case ON consult_messages (case_id);
CREATE TABLE IF NOT EXISTS handle_times (case_id INTEGER PRIMARY KEY, seconds REAL NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS timers (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, case_id INTEGER NOT NULL, due_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS timers_due ON timers (due_at);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, adapter TEXT NOT NULL, payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, created_at REAL NOT NULL,
    delivered_at REAL, last_error TEXT, notes TEXT);
CREATE INDEX IF NOT EXISTS outbox_undelivered ON outbox (id) WHERE delivered_at IS NULL;
CREATE INDEX IF NOT EXISTS handle_times_at ON handle_times (at);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, event_id TEXT NOT NULL, payload TEXT NOT NULL,
    received_at REAL NOT NULL, done_at REAL, UNIQUE (source, event_id));
CREATE TABLE IF NOT EXISTS refs (adapter TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (adapter, key));
"""
# After the schema (and the migrations, which may add the columns these index).
_INDEXES = """
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (source, id) WHERE done_at IS NULL;
CREATE INDEX IF NOT EXISTS inbox_done ON inbox (done_at) WHERE done_at IS NOT NULL;
"""
# Stores made by earlier versions, brought up to date in order; PRAGMA user_version counts the
# steps taken. Each step is (a query that finds it done, its script): a table this version's
# schema has just created needs none. 1: a delivery stays in the inbox once processed (done_at),
# so accepting one is a single INSERT OR IGNORE and finishing it a single UPDATE (the ids of
# processed deliveries used to live in a seen_events table of their own). 2: an outbox row keeps
# its outlet's notes on earlier tries (what may have gone out), so a retry never sends it twice.
_MIGRATIONS = (
    (
        "SELECT 1 FROM pragma_table_info('inbox') WHERE name = 'done_at'",
        """
        ALTER TABLE inbox ADD COLUMN done_at REAL;
        INSERT OR IGNORE INTO inbox (source, event_id, payload, received_at, done_at)
            SELECT source, event_id, '', at, at FROM seen_events;
        DROP TABLE seen_events;
        """,
    ),
    ("SELECT 1 FROM pragma_table_info('outbox') WHERE name = 'notes'", "ALTER TABLE outbox ADD COLUMN notes TEXT;"),
)
_SHARED = """
SELECT
    (SELECT json_group_object(id, data) FROM agents),
    (SELECT json_group_object(agent_id, n) FROM
        (SELECT agent_id, COUNT(*) AS n FROM cases WHERE state = ?1 AND agent_id IS NOT NULL GROUP BY agent_id)),
    (SELECT json_group_array(seconds) FROM (SELECT seconds FROM handle_times ORDER BY at DESC LIMIT ?2)),
    (SELECT json_group_object(name, value) FROM counters)
"""
_RECORD_TABLES = {"tickets", "offers", "surveys", "consult_messages"}


class SQLiteStore:
    def __init__(
        self,
        path: Path,
        *,
        handle_time_window: int = 20,
        checkpoint_interval: float = 1.0,
        wal_max_bytes: int = DEFAULT_WAL_MAX_BYTES,
    ) -> None:
        self.path = path
        self._window = handle_time_window
        self._checkpoint_interval = checkpoint_interval
        self._wal_max_bytes = wal_max_bytes
        self._db: sqlite3.Connection | None = None
        self._in_transaction = False
        self._in_unit = False
        self._checkpointer: Checkpointer | None = None
        self.commits = 0  # transactions committed (a group of units counts once)
        self.accounts = sqlite_accounts.SQLiteAccounts(self._run, self._atomic)

    @classmethod
    def from_url(cls, url: str, *, handle_time_window: int = 20, wal_max_bytes: int = DEFAULT_WAL_MAX_BYTES) -> SQLiteStore:
        """`sqlite:///relative/path.db` or `sqlite:////absolute/path.db`."""
        if not url.startswith("sqlite:///"):
            raise StoreError(f"not a sqlite URL: {url!r}")
        return cls(Path(url.removeprefix("sqlite:///")), handle_time_window=handle_time_window, wal_max_bytes=wal_max_bytes)

    async def _run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            raise StoreError("the store is not open")
        changes = self._db.total_changes
        result = job(self._db)
        if not self._in_transaction and self._db.total_changes != changes:
            self._wrote()
        return result

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it (see checkpoint.py)
        # When a commit finds the log fully checkpointed it writes from the file's start again, and
        # cuts a file grown past this back to it (the checkpointer makes that happen under load).
        db.execute(f"PRAGMA journal_size_limit={self._wal_max_bytes}")
        _migrate(db)
        self._db = db
        self._checkpointer = Checkpointer(self.path, interval=self._checkpoint_interval, max_bytes=self._wal_max_bytes)
        self._checkpointer.start()

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            db.close()
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            checkpointer.stop()

    async def ping(self) -> bool:
        try:
            return await self._run(lambda db: db.execute("SELECT 1").fetchone() == (1,))
        except (StoreError, sqlite3.Error):
            return False

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One transaction around several units of work (group commit); each `commit()` inside is
        a savepoint, so a unit that fails is undone alone."""
        if self._db is None:
            raise StoreError("the store is not open")
        if self._checkpointer is not None:
            await self._checkpointer.make_way()
        with self._atomic(self._db):
            self._in_transaction = True
            try:
                yield
            finally:
                self._in_transaction = False
        self._wrote()

    @contextlib.contextmanager
    def _atomic(self, db: sqlite3.Connection) -> Iterator[None]:
        """Several statements that succeed or fail together: a transaction of their own, or a
        savepoint inside the open group's. Without it each statement would commit alone (the
        connection autocommits), e.g. one commit per row of an executemany. Inside a unit of work
        (`savepoint()`) it adds nothing: an error leaves the unit, whose savepoint undoes all of it."""
        if self._in_unit:
            yield
            return
        nested = self._in_transaction
        begin, end, undo = (
            ("SAVEPOINT unit", "RELEASE unit", "ROLLBACK TO unit") if nested else ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        )
        db.execute(begin)
        try:
            yield
        except BaseException:
            db.execute(undo)
            if nested:  # a savepoint rolled back to is still open
                db.execute(end)
            raise
        try:
            db.execute(end)
        except BaseException:
            if not nested and db.in_transaction:  # a COMMIT that failed leaves the transaction open
                db.execute("ROLLBACK")
            raise

    @property
    def checkpoints(self) -> int:
        """WAL checkpoints the background thread has run."""
        return self._checkpointer.done if self._checkpointer is not None else 0

    @property
    def wal_restarts(self) -> int:
        """Times the background thread made the log start over (rewound or emptied it)."""
        return self._checkpointer.restarted if self._checkpointer is not None else 0

    def _wrote(self) -> None:
        self.commits += 1
        if self._checkpointer is not None:
            self._checkpointer.wrote()

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """One unit of work: inside `transaction()` a savepoint, undone alone if it fails."""
        if self._db is None:
            raise StoreError("the store is not open")
        with self._atomic(self._db):
            self._in_unit = True
            try:
                yield
            finally:
                self._in_unit = False

    async def create_conversation(self, conversation: Conversation, *, secret_hash: str, if_new: bool = False) -> bool:
        verb = "INSERT OR IGNORE" if if_new else "INSERT"

        def job(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                f"{verb} INTO conversations (id, platform, secret_hash, data, created_at) VALUES (?, ?, ?, ?, ?)",
                (conversation.id, conversation.platform, secret_hash, _conversation_json(conversation), conversation.created_at),
            )
            return cursor.rowcount == 1

        return await self._run(job)

    async def conversation_secret(self, conversation_id: str) -> str | None:
        def job(db: sqlite3.Connection) -> str | None:
            row = db.execute("SELECT secret_hash FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            return None if row is None else str(row[0])

        return await self._run(job)

    async def conversation(self, conversation_id: str) -> Conversation | None:
        def job(db: sqlite3.Connection) -> Conversation | None:
            row = db.execute("SELECT data FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            return None if row is None else Conversation(**codec.loads(row[0]))

        return await self._run(job)

    async def load_world(
        self, *, now: float, conversation_id: str | None, case_ids: Collection[int], staff_id: str | None = None
    ) -> tuple[World, Loaded]:
        window = self._window

        def job(db: sqlite3.Connection) -> tuple[World, Loaded]:
            loaded = Loaded()
            conversation = None
            wanted = set(case_ids)
            if conversation_id is not None:
                row = db.execute("SELECT data, last_seq FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
                if row is None:
                    raise StoreError(f"no conversation {conversation_id}")
                loaded.conversation_json, loaded.conversation_seq = row
                conversation = Conversation(**codec.loads(row[0]))
                if conversation.case_id is not None:
                    wanted.add(conversation.case_id)
            rows = db.execute("SELECT id, data FROM cases WHERE state = ?", (CaseState.QUEUED.value,)).fetchall()
            if wanted:  # separate statements: "state = ? OR id IN (...)" defeats both indexes
                marks = ",".join("?" * len(wanted))
                rows += db.execute(f"SELECT id, data FROM cases WHERE id IN ({marks})", tuple(wanted)).fetchall()
            if staff_id is not None:
                rows += db.execute("SELECT id, data FROM cases WHERE agent_id = ? AND state = ?", (staff_id, CaseState.WITH_AGENT.value)).fetchall()
            cases = {}
            for case_id, data in rows:
                loaded.case_json[case_id] = data
                cases[case_id] = Case.from_json(codec.loads(data))
            # the shared figures in one statement: presence, live chats per agent, handle times, counters
            agents_json, active_json, times_json, counters_json = db.execute(_SHARED, (CaseState.WITH_AGENT.value, window)).fetchone()
            agents = {}
            for agent_id, data in codec.loads(agents_json or "{}").items():
                loaded.agent_json[agent_id] = data
                agents[agent_id] = _agent(agent_id, data)
            active = {str(k): int(v) for k, v in codec.loads(active_json or "{}").items()}
            handle_times = [float(t) for t in codec.loads(times_json or "[]")]
            counters = codec.loads(counters_json or "{}")
            loaded.counters = {"case": counters.get("case", 1), "ticket": counters.get("ticket", 1)}
            world = World(
                now=now,
                conversation=conversation,
                cases=cases,
                agents=agents,
                active_chats=active,
                recent_handle_times=handle_times,
                next_case_id=counters.get("case", 1),
                next_ticket_id=counters.get("ticket", 1),
            )
            return world, loaded

        return await self._run(job)

    async def commit(
        self,
        world: World,
        loaded: Loaded,
        actions: Sequence[Action],
        routed: Sequence[Routed],
        *,
        inbound: tuple[str, str] | None = None,
        fired_timer: str | None = None,
    ) -> list[tuple[str, dict[str, Any]]]:
        def job(db: sqlite3.Connection) -> list[tuple[str, dict[str, Any]]]:
            now = world.now
            live: list[tuple[str, dict[str, Any]]] = []
            with self._atomic(db):
                if fired_timer is not None:  # first, so a handler may schedule the same key again
                    db.execute("DELETE FROM timers WHERE key = ?", (fired_timer,))
                seqs, last_seq = _write_actions(db, now, actions, _known_seq(world, loaded))
                _write_world(db, world, loaded, last_seq)
                for entry in routed:
                    payload = encode(entry.action)
                    if id(entry.action) in seqs:  # a transcript line (not several merged into one post)
                        payload["seq"], payload["at"] = seqs[id(entry.action)], now
                    if not entry.durable:
                        live.append((entry.adapter, payload))
                        continue
                    db.execute(
                        "INSERT INTO outbox (adapter, payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?)",
                        (entry.adapter, codec.dumps(payload), now, now),
                    )
                if inbound is not None:
                    _finish_inbound(db, *inbound, now)
            return live

        return await self._run(job)

    async def accept_inbound(self, source: str, event_id: str, payload: dict[str, Any], *, now: float) -> bool:
        def job(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT OR IGNORE INTO inbox (source, event_id, payload, received_at) VALUES (?, ?, ?, ?)",
                (source, event_id, codec.dumps(payload), now),
            )
            return cursor.rowcount == 1

        return await self._run(job)

    async def inbound(self, source: str, *, limit: int = 100) -> list[InboundEntry]:
        def job(db: sqlite3.Connection) -> list[InboundEntry]:
            rows = db.execute(
                "SELECT source, event_id, payload, received_at FROM inbox WHERE source = ? AND done_at IS NULL ORDER BY id LIMIT ?",
                (source, limit),
            ).fetchall()
            return [InboundEntry(r[0], r[1], codec.loads(r[2]), r[3]) for r in rows]

        return await self._run(job)

    async def finish_inbound(self, source: str, event_id: str, *, now: float) -> None:
        await self._run(lambda db: _finish_inbound(db, source, event_id, now))

    async def handled_inbound(self, source: str, event_id: str) -> bool:
        def job(db: sqlite3.Connection) -> bool:
            row = db.execute("SELECT done_at FROM inbox WHERE source = ? AND event_id = ?", (source, event_id)).fetchone()
            return row is not None and row[0] is not None

        return await self._run(job)

    async def forget_seen(self, *, before: float) -> int:
        def job(db: sqlite3.Connection) -> int:
            with self._atomic(db):
                db.execute("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?", (before,))
                return db.execute("DELETE FROM inbox WHERE done_at < ?", (before,)).rowcount

        return await self._run(job)

    async def get_ref(self, adapter: str, key: str) -> str | None:
        def job(db: sqlite3.Connection) -> str | None:
            row = db.execute("SELECT value FROM refs WHERE adapter = ? AND key = ?", (adapter, key)).fetchone()
            return None if row is None else str(row[0])

        return await self._run(job)

    async def set_ref(self, adapter: str, key: str, value: str) -> None:
        def job(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO refs VALUES (?, ?, ?)", (adapter, key, value))

        await self._run(job)

    async def case_by_number(self, number: str) -> Case | None:
        def job(db: sqlite3.Connection) -> Case | None:
            row = db.execute("SELECT data FROM cases WHERE number = ?", (number,)).fetchone()
            return None if row is None else Case.from_json(codec.loads(row[0]))

        return await self._run(job)

    async def transcript(self, conversation_id: str, *, after: int = 0, limit: int = 500) -> list[TranscriptEntry]:
        def job(db: sqlite3.Connection) -> list[TranscriptEntry]:
            rows = db.execute(
                "SELECT conversation_id, seq, case_id, sender, sender_name, text, buttons, at FROM messages "
                "WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (conversation_id, after, limit),
            ).fetchall()
            return [TranscriptEntry(r[0], r[1], r[2], r[3], r[4], r[5], codec.loads(r[6]), r[7]) for r in rows]

        return await self._run(job)

    async def due_timers(self, now: float, *, limit: int = 100) -> list[DueTimer]:
        def job(db: sqlite3.Connection) -> list[DueTimer]:
            rows = db.execute(
                "SELECT key, kind, case_id, due_at FROM timers WHERE due_at <= ? ORDER BY due_at LIMIT ?", (now, limit)
            ).fetchall()
            return [DueTimer(*r) for r in rows]

        return await self._run(job)

    async def pending_outbox(self, *, limit: int = 200) -> list[OutboxEntry]:
        def job(db: sqlite3.Connection) -> list[OutboxEntry]:
            rows = db.execute(
                "SELECT id, adapter, payload, attempts, next_attempt_at, notes FROM outbox WHERE delivered_at IS NULL "
                "ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
            return [OutboxEntry(r[0], r[1], codec.loads(r[2]), r[3], r[4], codec.loads(r[5]) if r[5] else {}) for r in rows]

        return await self._run(job)

    async def mark_delivered(self, ids: Collection[int], *, now: float) -> None:
        if not ids:
            return

        def job(db: sqlite3.Connection) -> None:
            with self._atomic(db):
                db.executemany("UPDATE outbox SET delivered_at = ? WHERE id = ?", [(now, i) for i in ids])

        await self._run(job)

    async def mark_failed(self, entry_id: int, *, retry_at: float, error: str, notes: dict[str, Any] | None = None) -> None:
        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, notes = ? WHERE id = ?",
                (retry_at, error[:500], codec.dumps(notes) if notes else None, entry_id),
            )

        await self._run(job)

    async def note_attempt(self, entry_id: int, notes: dict[str, Any]) -> None:
        await self._run(lambda db: db.execute("UPDATE outbox SET notes = ? WHERE id = ?", (codec.dumps(notes) if notes else None, entry_id)))

    async def case(self, case_id: int) -> Case | None:
        def job(db: sqlite3.Connection) -> Case | None:
            row = db.execute("SELECT data FROM cases WHERE id = ?", (case_id,)).fetchone()
            return None if row is None else Case.from_json(codec.loads(row[0]))

        return await self._run(job)

    async def cases_in(self, states: Collection[CaseState]) -> list[Case]:
        def job(db: sqlite3.Connection) -> list[Case]:
            marks = ",".join("?" * len(states))
            rows = db.execute(f"SELECT data FROM cases WHERE state IN ({marks}) ORDER BY id", [s.value for s in states])
            return [Case.from_json(codec.loads(r[0])) for r in rows]

        return await self._run(job)

    async def cases_of_staff(self, staff_id: str) -> list[Case]:
        def job(db: sqlite3.Connection) -> list[Case]:
            rows = db.execute("SELECT data FROM cases WHERE agent_id = ? ORDER BY id", (staff_id,))
            return [Case.from_json(codec.loads(r[0])) for r in rows]

        return await self._run(job)

    async def follow_ups(self) -> list[Case]:
        def job(db: sqlite3.Connection) -> list[Case]:
            rows = db.execute(
                "SELECT data FROM cases WHERE (json_extract(data, '$.callback_requested') AND json_extract(data, '$.callback_done_at') IS NULL) "
                "OR (json_extract(data, '$.manager_requested_at') IS NOT NULL AND state IN (%s)) ORDER BY id" % ",".join("?" * len(OPEN_STATES)),
                tuple(s.value for s in OPEN_STATES),
            )
            return [Case.from_json(codec.loads(r[0])) for r in rows]

        return await self._run(job)

    async def search_cases(
        self, text: str, *, states: Collection[CaseState] | None = None, limit: int = 20, before_id: int | None = None
    ) -> list[Case]:
        # LIKE, not FTS5: no second index to keep in step with every commit. A search that matches
        # little reads every case (0.2 s for 20,000 with their transcripts), so it runs on a worker
        # thread with a read-only connection of its own (WAL reads beside the writer): never on the loop.
        like = "LIKE ? ESCAPE '\\'"
        word_matches = f"""(c.number {like} OR json_extract(c.data, '$.customer_name') {like} OR json_extract(c.data, '$.problem') {like}
            OR EXISTS (SELECT 1 FROM conversations v WHERE v.id = c.conversation_id AND json_extract(v.data, '$.customer_name') {like})
            OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.conversation_id AND m.case_id = c.id
                       AND m.sender IN ('customer', 'agent') AND m.text {like})
            OR EXISTS (SELECT 1 FROM notes n WHERE n.case_id = c.id AND (n.text {like} OR n.tags {like})))"""
        where: list[str] = ["1"]
        params: list[object] = []
        if states is not None:  # "+": walk the cases newest first rather than by the state index
            where.append(f"+c.state IN ({','.join('?' * len(states))})")
            params += [s.value for s in states]
        if before_id is not None:
            where.append("c.id < ?")
            params.append(before_id)
        for word in text.split()[:8]:
            literal = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")  # % and _ match only themselves
            if word.startswith("#") and len(word) > 1:  # a tag, exactly
                where.append(f"EXISTS (SELECT 1 FROM notes n WHERE n.case_id = c.id AND n.tags {like})")
                params.append(f'%"{literal[1:].lower()}"%')
            else:
                where.append(word_matches)
                params += [f"%{literal}%"] * word_matches.count("?")
        sql = f"SELECT data FROM cases c WHERE {' AND '.join(where)} ORDER BY c.id DESC LIMIT ?"

        def job() -> list[Case]:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                rows = db.execute(sql, (*params, limit)).fetchall()
            finally:
                db.close()
            return [Case.from_json(codec.loads(r[0])) for r in rows]

        if self._db is None:
            raise StoreError("the store is not open")
        return await asyncio.to_thread(job)

    async def notes(self, case_id: int) -> list[NoteEntry]:
        def job(db: sqlite3.Connection) -> list[NoteEntry]:
            rows = db.execute("SELECT case_id, author_id, text, tags, at FROM notes WHERE case_id = ? ORDER BY id", (case_id,))
            return [NoteEntry(r[0], r[1], r[2], tuple(codec.loads(r[3])), r[4]) for r in rows]

        return await self._run(job)

    async def records(self, table: str, case_id: int | None = None) -> list[dict[str, Any]]:
        if table not in _RECORD_TABLES:
            raise StoreError(f"no record table {table!r}")

        def job(db: sqlite3.Connection) -> list[dict[str, Any]]:
            if case_id is None:
                cursor = db.execute(f"SELECT * FROM {table} ORDER BY rowid")
            else:
                cursor = db.execute(f"SELECT * FROM {table} WHERE case_id = ? ORDER BY rowid", (case_id,))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        return await self._run(job)

    async def agents(self) -> list[AgentState]:
        def job(db: sqlite3.Connection) -> list[AgentState]:
            return [_agent(agent_id, data) for agent_id, data in db.execute("SELECT id, data FROM agents ORDER BY id")]

        return await self._run(job)

    async def active_chats(self) -> dict[str, int]:
        return await self._run(_active_chats)

    async def all_cases(self) -> list[Case]:
        def job(db: sqlite3.Connection) -> list[Case]:
            return [Case.from_json(codec.loads(r[0])) for r in db.execute("SELECT data FROM cases ORDER BY id")]

        return await self._run(job)

    async def backlog(self) -> Backlog:
        open_states = sorted(state.value for state in OPEN_STATES)
        marks = ",".join("?" * len(open_states))

        def job(db: sqlite3.Connection) -> Backlog:
            cases = db.execute(f"SELECT state, COUNT(*) FROM cases WHERE state IN ({marks}) GROUP BY state", open_states)
            (outbox,) = db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").fetchone()
            inbox = db.execute("SELECT source, COUNT(*) FROM inbox WHERE done_at IS NULL GROUP BY source")
            return Backlog(cases={str(k): int(v) for k, v in cases}, outbox=int(outbox), inbox={str(k): int(v) for k, v in inbox})

        return await self._run(job)


def _migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA + sqlite_accounts.SCHEMA)
    (version,) = db.execute("PRAGMA user_version").fetchone()
    for step in range(version, len(_MIGRATIONS)):
        done, script = _MIGRATIONS[step]
        if db.execute(done).fetchone() is None:
            db.executescript(f"BEGIN IMMEDIATE; {script} PRAGMA user_version = {step + 1}; COMMIT;")
    db.execute(f"PRAGMA user_version = {len(_MIGRATIONS)}")
    db.executescript(_INDEXES)


def _finish_inbound(db: sqlite3.Connection, source: str, event_id: str, now: float) -> None:
    """The delivery's id stays (a retry of it is dropped); its payload is no longer needed. A
    delivery that was never recorded first (a web chat POST's idempotency key) is remembered here."""
    db.execute(
        "INSERT INTO inbox (source, event_id, payload, received_at, done_at) VALUES (?, ?, '', ?, ?) "
        "ON CONFLICT (source, event_id) DO UPDATE SET done_at = excluded.done_at, payload = ''",
        (source, event_id, now, now),
    )


def _agent(agent_id: str, data: str) -> AgentState:
    raw = codec.loads(data)
    # stores from before the console flag: everyone online went offline at a restart, as with a console
    return AgentState(agent_id, AgentStatus(raw["status"]), bool(raw["online"]), bool(raw.get("console", True)))


def _active_chats(db: sqlite3.Connection) -> dict[str, int]:
    rows = db.execute(
        "SELECT agent_id, COUNT(*) FROM cases WHERE state = ? AND agent_id IS NOT NULL GROUP BY agent_id",
        (CaseState.WITH_AGENT.value,),
    ).fetchall()
    return {str(agent_id): int(count) for agent_id, count in rows}


def _conversation_json(conversation: Conversation) -> str:
    return codec.dumps(
        {
            "id": conversation.id,
            "platform": conversation.platform,
            "customer_name": conversation.customer_name,
            "case_id": conversation.case_id,
            "created_at": conversation.created_at,
            "customer_ref": conversation.customer_ref,
            "callback_at": conversation.callback_at,
            "new_case_next": conversation.new_case_next,
        }
    )


def _known_seq(world: World, loaded: Loaded) -> dict[str, int]:
    return {world.conversation.id: loaded.conversation_seq} if world.conversation is not None else {}


def _write_world(db: sqlite3.Connection, world: World, loaded: Loaded, last_seq: dict[str, int]) -> None:
    """Writes back what changed; `last_seq` is each conversation's new last transcript seq."""
    last_seq = dict(last_seq)
    if world.conversation is not None:
        data = _conversation_json(world.conversation)
        seq = last_seq.pop(world.conversation.id, loaded.conversation_seq)
        if data != loaded.conversation_json or seq != loaded.conversation_seq:
            db.execute("UPDATE conversations SET data = ?, last_seq = ? WHERE id = ?", (data, seq, world.conversation.id))
    for conversation_id, seq in last_seq.items():
        db.execute("UPDATE conversations SET last_seq = ? WHERE id = ?", (seq, conversation_id))
    for case in world.cases.values():
        data = codec.dumps(case.to_json())
        if data == loaded.case_json.get(case.id):
            continue
        db.execute(
            "INSERT INTO cases (id, number, conversation_id, state, agent_id, data, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET state = excluded.state, agent_id = excluded.agent_id, data = excluded.data, "
            "updated_at = excluded.updated_at",
            (case.id, case.number, case.conversation_id, case.state.value, case.agent_id, data, world.now),
        )
    for agent in world.agents.values():
        data = codec.dumps({"status": agent.status.value, "online": agent.online, "console": agent.console})
        if data != loaded.agent_json.get(agent.id):
            db.execute("INSERT OR REPLACE INTO agents (id, data) VALUES (?, ?)", (agent.id, data))
    for name, value in (("case", world.next_case_id), ("ticket", world.next_ticket_id)):
        if loaded.counters.get(name) == value:
            continue
        db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value "
            "WHERE excluded.value > counters.value",
            (name, value),
        )


def _write_actions(
    db: sqlite3.Connection, now: float, actions: Sequence[Action], known_seq: dict[str, int]
) -> tuple[dict[int, int], dict[str, int]]:
    """Stores transcript lines, records and timers; returns each Say's transcript seq by id(),
    and the new last seq of each conversation that got lines (`known_seq`: those already read)."""
    seqs: dict[int, int] = {}
    last_seq: dict[str, int] = {}
    for action in actions:
        match action:
            case Say() | Heard():
                sender = "customer" if isinstance(action, Heard) else action.sender
                name = "" if isinstance(action, Heard) else action.sender_name
                buttons = [] if isinstance(action, Heard) else [dataclasses.asdict(b) for b in action.buttons]
                if action.conversation_id not in last_seq and action.conversation_id in known_seq:
                    last_seq[action.conversation_id] = known_seq[action.conversation_id]
                elif action.conversation_id not in last_seq:
                    row = db.execute("SELECT last_seq FROM conversations WHERE id = ?", (action.conversation_id,)).fetchone()
                    if row is None:
                        raise StoreError(f"no conversation {action.conversation_id}")
                    last_seq[action.conversation_id] = row[0]
                last_seq[action.conversation_id] += 1
                seq = last_seq[action.conversation_id]
                db.execute(
                    "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (action.conversation_id, seq, action.case_id, sender, name, action.text, codec.dumps(buttons), now),
                )
                seqs[id(action)] = seq
            case Schedule(key=key, kind=kind, case_id=case_id, due_at=due_at):
                db.execute("INSERT OR REPLACE INTO timers VALUES (?, ?, ?, ?)", (key, kind, case_id, due_at))
            case Cancel(key=key):
                db.execute("DELETE FROM timers WHERE key = ?", (key,))
            case RecordNote(case_id=case_id, author_id=author, text=text, tags=tags):
                db.execute(
                    "INSERT INTO notes (case_id, author_id, text, tags, at) VALUES (?, ?, ?, ?, ?)",
                    (case_id, author, text, codec.dumps(list(tags)), now),
                )
            case RecordTicket(case_id=case_id, ticket=ticket, kind=kind, text=text, due_at=due_at):
                db.execute("INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?)", (ticket, case_id, kind, text, due_at, now))
            case RecordOffer(case_id=case_id, article_ids=ids, query=query, scores=scores):
                db.execute(
                    "INSERT INTO offers (case_id, event, article_ids, query, scores, at) VALUES (?, 'offered', ?, ?, ?, ?)",
                    (case_id, codec.dumps(list(ids)), query, codec.dumps(list(scores)), now),
                )
            case RecordOfferOutcome(case_id=case_id, outcome=outcome, article_id=article_id):
                db.execute(
                    "INSERT INTO offers (case_id, event, article_ids, query, scores, at) VALUES (?, ?, ?, '', '[]', ?)",
                    (case_id, outcome, codec.dumps([article_id] if article_id else []), now),
                )
            case RecordSurvey(case_id=case_id, rating=rating, comment=comment):
                db.execute(
                    "INSERT INTO surveys VALUES (?, ?, ?, ?) ON CONFLICT (case_id) DO UPDATE SET rating = excluded.rating, "
                    "comment = excluded.comment, at = excluded.at",
                    (case_id, rating, comment, now),
                )
            case RecordConsultMessage(case_id=case_id, consult=number, author_id=author, text=text):
                db.execute(
                    "INSERT INTO consult_messages (case_id, consult, author_id, text, at) VALUES (?, ?, ?, ?, ?)",
                    (case_id, number, author, text, now),
                )
            case RecordHandleTime(case_id=case_id, seconds=seconds):
                db.execute("INSERT OR REPLACE INTO handle_times VALUES (?, ?, ?)", (case_id, seconds, now))
            case _:
                pass
    return seqs, last_seq


@contextlib.asynccontextmanager
async def existing_store(url: str) -> AsyncIterator[SQLiteStore]:
    """The store at `url`, opened for a command that reads it (the reports); StoreError when there
    is none there, rather than creating an empty one, as opening a mistyped path would."""
    store = SQLiteStore.from_url(url)
    if not store.path.is_file():
        raise StoreError(f"no store at {store.path}")
    await store.open()
    try:
        yield store
    finally:
        await store.close()
