"""The Slack adapter's own bookkeeping, kept in the store's refs so it survives a restart: which
Slack message is a case's or a consult's card (and so whose thread is which chat), each card as
last shown, where each staff member last acted, each person's DM channel with the bot."""

from __future__ import annotations

from bot.store.base import Store

SOURCE = "slack"


class Refs:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, key: str) -> str | None:
        return await self.store.get_ref(SOURCE, key)

    async def set(self, key: str, value: str) -> None:
        await self.store.set_ref(SOURCE, key, value)
