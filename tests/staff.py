"""Staff credentials for tests, made the way `supportbot staff token` and sign-in links make them."""

from __future__ import annotations

import time

from bot.credentials import TOKEN_PREFIX, digest, issue_sign_in_link, new_secret
from bot.store.base import Store


async def bearer(store: Store, staff_id: str) -> dict[str, str]:
    """An Authorization header with a fresh personal access token of `staff_id`."""
    secret = new_secret(TOKEN_PREFIX)
    await store.accounts.add_token(staff_id, name="test", token_hash=digest(secret), now=time.time())
    return {"Authorization": f"Bearer {secret}"}


async def link_path(store: Store, staff_id: str, *, now: float | None = None) -> str:
    """The path of a one-time sign-in link for `staff_id`."""
    secret = await issue_sign_in_link(store.accounts, staff_id, now=time.time() if now is None else now, ttl=600)
    return f"/login/link?token={secret}"
