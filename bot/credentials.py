"""How staff secrets are made and checked: argon2 for passwords, random values hashed with
SHA-256 for tokens, session ids and sign-in links.

Passwords are chosen by people, so they get a slow, memory-hard hash (argon2id, argon2-cffi's
tuned defaults) and are checked off the event loop by the caller. Tokens and session ids are
256 random bits: a fast hash is enough to make a stolen database useless, and lets a request be
authorised with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.store.accounts import AccountStore

TOKEN_PREFIX = "sbt_"  # personal access tokens: recognisable in a leaked file or a secret scanner
MIN_PASSWORD = 12

_hasher = PasswordHasher()
# checked against when an account has no password, so an unknown name costs as much as a wrong password
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class WeakPassword(ValueError):
    """The password is too short (the message says how long it must be)."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def password_matches(stored: str | None, password: str) -> bool:
    """Slow on purpose (call it on a worker thread); as slow when there is no stored hash."""
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the store keeps of a token, session id or link."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


async def issue_sign_in_link(accounts: AccountStore, staff_id: str, *, now: float, ttl: float) -> str:
    """A one-time sign-in secret for `staff_id`, valid for `ttl` seconds (the caller makes the URL)."""
    secret = new_secret()
    await accounts.add_sign_in_link(digest(secret), staff_id, expires_at=now + ttl)
    return secret
