"""Staff credentials, kept in the store beside the cases: a role of its own, so a second store
(Redis) implements it as one more small protocol.

The roster in config stays the only source of *who* is staff and in which role; this keeps only
how each of them proves it: a password hash, personal access tokens, browser sessions and
one-time sign-in links. Nothing secret is kept in the clear: passwords are argon2 hashes
(`bot/credentials.py`), and tokens, session ids and links are random and kept as SHA-256 hashes,
so a copy of the database signs nobody in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class TokenInfo:
    """A personal access token, as listed (never its secret)."""

    id: int
    staff_id: str
    name: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


@dataclass(frozen=True)
class SessionInfo:
    staff_id: str
    via: str  # password | token | sso | link
    created_at: float
    expires_at: float


class AccountStore(Protocol):
    async def password_hash(self, staff_id: str) -> str | None: ...

    async def set_password(self, staff_id: str, password_hash: str, *, now: float) -> None:
        """Sets (or replaces) the password; every browser session of that person ends with it."""
        ...

    async def add_token(self, staff_id: str, *, name: str, token_hash: str, now: float) -> int: ...

    async def tokens(self, staff_id: str | None = None) -> list[TokenInfo]: ...

    async def revoke_token(self, token_id: int, *, now: float) -> bool:
        """True when a live token was revoked (False: no such token, or revoked before)."""
        ...

    async def token_by_hash(self, token_hash: str, *, now: float) -> TokenInfo | None:
        """The live token with that hash, its last use noted (at most once a minute: a script
        polling the API must not turn every read into a write)."""
        ...

    async def add_session(self, session_hash: str, staff_id: str, *, via: str, now: float, expires_at: float) -> None: ...

    async def session(self, session_hash: str, *, now: float) -> SessionInfo | None:
        """The session with that hash unless it has expired or ended."""
        ...

    async def end_session(self, session_hash: str) -> None: ...

    async def add_sign_in_link(self, link_hash: str, staff_id: str, *, expires_at: float) -> None: ...

    async def use_sign_in_link(self, link_hash: str, *, now: float) -> str | None:
        """The staff id a live, unused link signs in, marking it used (once, whoever asks first)."""
        ...

    async def auth_secret(self, fresh: bytes) -> bytes:
        """The key that signs session cookies: the one kept from an earlier run, else `fresh`,
        which is kept from now on (so a restart signs nobody out)."""
        ...
