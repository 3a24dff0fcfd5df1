"""The SQLite `AccountStore`: staff credentials in the store's own file, on its own connection.

It runs its statements through the store's `_run`, like every other store call, so a sign-in
written while the runtime's group commit is open waits for no lock (a second connection would
block the event loop on SQLite's busy handler until that commit, which itself waits for the loop).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar, cast

from bot.store.accounts import SessionInfo, TokenInfo

T = TypeVar("T")
Runner = Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]
Atomic = Callable[[sqlite3.Connection], AbstractContextManager[None]]

SCHEMA = """
CREATE TABLE IF NOT EXISTS staff_passwords (staff_id TEXT PRIMARY KEY, hash TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS staff_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT, staff_id TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL, last_used_at REAL, revoked_at REAL);
CREATE TABLE IF NOT EXISTS staff_sessions (
    hash TEXT PRIMARY KEY, staff_id TEXT NOT NULL, via TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS staff_sessions_staff ON staff_sessions (staff_id);
CREATE TABLE IF NOT EXISTS sign_in_links (
    hash TEXT PRIMARY KEY, staff_id TEXT NOT NULL, expires_at REAL NOT NULL, used_at REAL);
CREATE TABLE IF NOT EXISTS auth_secret (id INTEGER PRIMARY KEY CHECK (id = 1), secret BLOB NOT NULL);
"""
TOKEN_TOUCH_EVERY = 60.0  # seconds between last-use updates of one token


class SQLiteAccounts:
    def __init__(self, run: Runner, atomic: Atomic) -> None:
        self._run = run
        self._atomic = atomic  # statements that go together (a savepoint inside the runtime's group)

    async def _do(self, job: Callable[[sqlite3.Connection], T]) -> T:
        return cast(T, await self._run(job))

    async def password_hash(self, staff_id: str) -> str | None:
        def job(db: sqlite3.Connection) -> str | None:
            row = db.execute("SELECT hash FROM staff_passwords WHERE staff_id = ?", (staff_id,)).fetchone()
            return None if row is None else str(row[0])

        return await self._do(job)

    async def set_password(self, staff_id: str, password_hash: str, *, now: float) -> None:
        def job(db: sqlite3.Connection) -> None:
            with self._atomic(db):
                db.execute("INSERT OR REPLACE INTO staff_passwords VALUES (?, ?, ?)", (staff_id, password_hash, now))
                db.execute("DELETE FROM staff_sessions WHERE staff_id = ?", (staff_id,))

        await self._do(job)

    async def add_token(self, staff_id: str, *, name: str, token_hash: str, now: float) -> int:
        def job(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO staff_tokens (staff_id, name, hash, created_at) VALUES (?, ?, ?, ?)", (staff_id, name, token_hash, now)
            )
            return int(cursor.lastrowid or 0)

        return await self._do(job)

    async def tokens(self, staff_id: str | None = None) -> list[TokenInfo]:
        def job(db: sqlite3.Connection) -> list[TokenInfo]:
            columns = "SELECT id, staff_id, name, created_at, last_used_at, revoked_at FROM staff_tokens"
            rows = (
                db.execute(f"{columns} ORDER BY id").fetchall()
                if staff_id is None
                else db.execute(f"{columns} WHERE staff_id = ? ORDER BY id", (staff_id,)).fetchall()
            )
            return [TokenInfo(*row) for row in rows]

        return await self._do(job)

    async def revoke_token(self, token_id: int, *, now: float) -> bool:
        def job(db: sqlite3.Connection) -> bool:
            cursor = db.execute("UPDATE staff_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, token_id))
            return cursor.rowcount == 1

        return await self._do(job)

    async def token_by_hash(self, token_hash: str, *, now: float) -> TokenInfo | None:
        def job(db: sqlite3.Connection) -> TokenInfo | None:
            row = db.execute(
                "SELECT id, staff_id, name, created_at, last_used_at, revoked_at FROM staff_tokens WHERE hash = ? AND revoked_at IS NULL",
                (token_hash,),
            ).fetchone()
            if row is None:
                return None
            token = TokenInfo(*row)
            if token.last_used_at is None or now - token.last_used_at >= TOKEN_TOUCH_EVERY:
                db.execute("UPDATE staff_tokens SET last_used_at = ? WHERE id = ?", (now, token.id))
            return token

        return await self._do(job)

    async def add_session(self, session_hash: str, staff_id: str, *, via: str, now: float, expires_at: float) -> None:
        def job(db: sqlite3.Connection) -> None:
            with self._atomic(db):
                db.execute("DELETE FROM staff_sessions WHERE expires_at <= ?", (now,))
                db.execute("DELETE FROM sign_in_links WHERE expires_at <= ?", (now,))
                db.execute("INSERT INTO staff_sessions VALUES (?, ?, ?, ?, ?)", (session_hash, staff_id, via, now, expires_at))

        await self._do(job)

    async def session(self, session_hash: str, *, now: float) -> SessionInfo | None:
        def job(db: sqlite3.Connection) -> SessionInfo | None:
            row = db.execute(
                "SELECT staff_id, via, created_at, expires_at FROM staff_sessions WHERE hash = ? AND expires_at > ?", (session_hash, now)
            ).fetchone()
            return None if row is None else SessionInfo(*row)

        return await self._do(job)

    async def end_session(self, session_hash: str) -> None:
        await self._do(lambda db: db.execute("DELETE FROM staff_sessions WHERE hash = ?", (session_hash,)))

    async def add_sign_in_link(self, link_hash: str, staff_id: str, *, expires_at: float) -> None:
        await self._do(lambda db: db.execute("INSERT INTO sign_in_links (hash, staff_id, expires_at) VALUES (?, ?, ?)", (link_hash, staff_id, expires_at)))

    async def use_sign_in_link(self, link_hash: str, *, now: float) -> str | None:
        def job(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "UPDATE sign_in_links SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ? RETURNING staff_id",
                (now, link_hash, now),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._do(job)

    async def auth_secret(self, fresh: bytes) -> bytes:
        def job(db: sqlite3.Connection) -> bytes:
            db.execute("INSERT OR IGNORE INTO auth_secret VALUES (1, ?)", (fresh,))
            return bytes(db.execute("SELECT secret FROM auth_secret WHERE id = 1").fetchone()[0])

        return await self._do(job)
