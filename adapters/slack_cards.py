"""The cards staff work from, kept true: a case's card in the queue channel and a consult's card in
its SME group's channel.

A card is posted once (exactly once: adapters/slack_once.py) and then edited (chat.update)
whenever what it shows changes: a case's state, owner and waiting time (ticking once a minute
while it waits for Tier I or for Tier II), a consult's state to its end (claimed, unclaimed after
the claim time, ended and why, withdrawn with its contact), Accept and Claim only while they can
still be pressed. A case changes with every line relayed, most of which change nothing a card
shows, and chat.update is Tier 3 (about 50 calls a minute): so each card's last rendering is kept
(a digest, in refs) and an update that would show the same card is not sent.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.assist import AgentAssist
from adapters.slack_api import SlackCalls
from adapters.slack_blocks import card_articles, consult_card, queue_card
from adapters.slack_once import OncePoster
from adapters.slack_refs import Refs
from adapters.slack_settings import consult_channel, slack_settings
from bot import codec
from bot.config import Settings
from bot.domain import Case, CaseState, Consult, Role
from bot.pii import for_role
from bot.ports import Attempt, DeliveryError
from bot.runtime import Runtime

log = logging.getLogger(__name__)

CARD_REFRESHES = 40  # queue cards whose waiting time is updated per minute, at most (chat.update is Tier 3)
WAITING = (CaseState.QUEUED, CaseState.ESCALATED)  # cards that tick and offer Accept


class Cards:
    def __init__(
        self,
        runtime: Runtime,
        settings: Settings,
        calls: SlackCalls,
        once: OncePoster,
        assist: AgentAssist,
        refs: Refs,
        *,
        take_slot: Callable[[str], None],
        learn_name: Callable[[Case], Awaitable[None]],
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.queue_channel = slack_settings(settings).queue_channel
        self.calls = calls
        self.once = once
        self.assist = assist
        self.refs = refs
        self.take_slot = take_slot  # the channel's pacing (raises DeliveryError to wait)
        self.learn_name = learn_name

    # ----- a case's card ---------------------------------------------------------------------------

    async def show_case(self, case_id: int, attempt: Attempt) -> None:
        """The case changed: its queue card (posted the first time it needs a person) and its
        consults' cards show what is true now."""
        case = await self.runtime.store.case(case_id)
        if case is None:
            return
        await self._queue_card(case, attempt)
        await self.show_consults(case)

    async def _queue_card(self, case: Case, attempt: Attempt) -> None:
        if not self.queue_channel or (case.queued_at is None and case.state is not CaseState.ESCALATED):
            return
        card = self._case_card(case)
        key = f"case:{case.id}"
        ts = await self.refs.get(key)
        if ts is None:
            await self.learn_name(case)
            self.take_slot(self.queue_channel)
            ts = await self.once.post(attempt, "card", {"channel": self.queue_channel, **card})
            await self.refs.set(key, ts)
            await self.refs.set(f"thread:{ts}", str(case.id))
            await self.refs.set(f"shown:{key}", _digest(card))
        else:
            await self._update(key, self.queue_channel, ts, card)
        if slack_settings(self.settings).card_articles and case.state in WAITING:
            await self._suggest_articles(case, ts, attempt)

    async def _suggest_articles(self, case: Case, card_ts: str, attempt: Attempt) -> None:
        """Agent assist without asking: the articles the ranking is confident of for the case's
        problem (at least `[knowledge] threshold` sure, as for customers), once per case, in the
        card's thread, where whoever accepts the chat will talk. The channel's readers are Tier I,
        so the words quoted are masked for them. A retry of the delivery (the channel's pacing,
        say) posts them then; nothing is posted when no article is confident enough."""
        key = f"articles:{case.id}"
        if await self.refs.get(key) is not None:
            return
        words, found = await self.assist.for_problem(case, at_least=self.settings.knowledge.threshold)
        if found:
            self.take_slot(self.queue_channel)
            reply = card_articles(found, for_role(Role.AGENT, words))
            await self.once.post(attempt, "articles", {"channel": self.queue_channel, "thread_ts": card_ts, **reply})
        await self.refs.set(key, "posted" if found else "none")

    def _case_card(self, case: Case) -> dict[str, Any]:
        details = {k: for_role(Role.AGENT, v) for k, v in case.details.items()}  # the whole channel reads it
        return queue_card(
            case, agent_name=self.settings.name_of(case.agent_id), now=self.runtime.clock.now(),
            problem=for_role(Role.AGENT, case.problem), details=details,
        )

    async def refresh_waiting(self) -> int:
        """One tick: the cards of chats waiting for Tier I or Tier II, longest waiting first, at
        most CARD_REFRESHES updates (chat.update allows about 50 calls a minute; a card showing the
        same minute is not updated); a rate limit ends the round, and the rest tick next minute.
        Returns the cards updated."""
        waiting = sorted(await self.runtime.store.cases_in(list(WAITING)), key=_waiting_since)
        updated = 0
        for case in waiting:
            if updated >= CARD_REFRESHES:
                break
            key = f"case:{case.id}"
            ts = await self.refs.get(key)
            if ts is None:
                continue
            try:
                if await self._update(key, self.queue_channel, ts, self._case_card(case)):
                    updated += 1
            except DeliveryError as exc:
                log.warning("queue card refresh stopped for this minute", extra={"error": str(exc), "updated": updated})
                break
        return updated

    # ----- consults' cards -------------------------------------------------------------------------

    async def post_consult(self, case: Case, consult: Consult, attempt: Attempt) -> None:
        """A new consult's card with Claim in its group's channel (once), whose thread is the
        consult's; nothing when the group has no channel."""
        channel = self.channel_of(consult)
        if not channel:
            return
        key = f"consult:{case.id}:{consult.number}"
        card = self._consult_card(case, consult)
        ts = await self.refs.get(key)
        if ts is None:
            ts = await self.once.post(attempt, "card", {"channel": channel, **card})
            await self.refs.set(key, ts)
            await self.refs.set(f"consult_thread:{ts}", f"{case.id}:{consult.number}")
            await self.refs.set(f"shown:{key}", _digest(card))
        else:
            await self._update(key, channel, ts, card)

    async def show_consults(self, case: Case) -> None:
        """Every consult card of the case shows the consult's state now."""
        for consult in case.consults:
            channel = self.channel_of(consult)
            key = f"consult:{case.id}:{consult.number}"
            ts = await self.refs.get(key) if channel else None
            if channel and ts:
                await self._update(key, channel, ts, self._consult_card(case, consult))

    def _consult_card(self, case: Case, consult: Consult) -> dict[str, Any]:
        return consult_card(
            case, consult, sme_name=self.settings.name_of(consult.sme_id), agent_name=self.settings.name_of(consult.agent_id),
            now=self.runtime.clock.now(), claim_within=self.settings.consult.claim_within,
        )

    def channel_of(self, consult: Consult) -> str:
        return next((consult_channel(g) for g in self.settings.sme_groups if g.name == consult.group), "")

    # ----- updates, when they change something -------------------------------------------------------

    async def _update(self, key: str, channel: str, ts: str, card: dict[str, Any]) -> bool:
        """chat.update unless the card shows exactly what was last sent; True when it was sent."""
        digest = _digest(card)
        if await self.refs.get(f"shown:{key}") == digest:
            return False
        await self.calls.update(channel=channel, ts=ts, **card)
        await self.refs.set(f"shown:{key}", digest)
        return True


def _digest(card: dict[str, Any]) -> str:
    return hashlib.sha256(codec.dump_bytes(card)).hexdigest()[:32]


def _waiting_since(case: Case) -> float:
    return (case.escalated_at if case.state is CaseState.ESCALATED else case.queued_at) or 0.0
