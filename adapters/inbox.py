"""The durable inbox every platform that retries deliveries shares (Slack, Teams): record a
delivery before acknowledging it, drop a retry of one already recorded, turn recorded deliveries
into neutral events in order, and mark each done in the same commit as its last event.

So the platform's short acknowledgement deadline never waits for the engine, a restart loses
nothing that was acknowledged (the worker picks up what is still recorded), and a platform's retry
of a delivery is answered once. What a delivery means is the adapter's: it gives `translate`
(a recorded item → a plan, e.g. the events to handle) and `carry_out` (run a plan; its last event
must be handled with `inbound=(source, delivery_id)`, which finishes the delivery).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from bot.runtime import Runtime

log = logging.getLogger(__name__)

Plan = TypeVar("Plan")
BATCH = 100  # deliveries turned per round; a full round is followed at once by the next


class DurableInbox(Generic[Plan]):
    def __init__(
        self,
        runtime: Runtime,
        source: str,
        *,
        translate: Callable[[dict[str, Any]], Awaitable[Plan]],
        carry_out: Callable[[str, Plan], Awaitable[None]],
    ) -> None:
        self.runtime = runtime
        self.source = source
        self._translate = translate
        self._carry_out = carry_out
        self._ready = asyncio.Event()
        self.counts: collections.Counter[str] = collections.Counter()  # recorded / duplicate deliveries

    async def record(self, delivery_id: str, item: dict[str, Any]) -> bool:
        """Stores a delivery before it is acknowledged (urgent: ahead of queued bot turns); False
        for a retry of one already recorded, which is dropped."""
        store, now = self.runtime.store, self.runtime.clock.now()
        fresh = await self.runtime.unit(lambda: store.accept_inbound(self.source, delivery_id, item, now=now), urgent=True)
        self.counts["recorded_delivery" if fresh else "duplicate_delivery"] += 1
        if fresh:
            self._ready.set()
        else:
            log.info("duplicate delivery dropped", extra={"source": self.source, "delivery": delivery_id})
        return fresh

    async def run(self) -> None:
        """The worker: turns what is recorded, woken by each new delivery (and at the poll
        interval, for what a restart left)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=self.runtime.poll_interval)
            self._ready.clear()
            try:
                if await self.process() >= BATCH:
                    self._ready.set()  # more may be waiting: no pause between full batches
            except Exception:
                log.exception("inbox iteration failed", extra={"source": self.source})

    async def process(self) -> int:
        """Handles up to a batch of recorded deliveries. Each is translated first (which may read
        the store), then all their plans run together, so their events share a commit; one
        delivery's events stay in order. A delivery that fails is logged and dropped (finished)."""
        entries = await self.runtime.store.inbound(self.source, limit=BATCH)
        plans: list[tuple[str, Plan | None]] = []
        for entry in entries:
            try:
                plans.append((entry.event_id, await self._translate(entry.payload)))
            except Exception:
                log.exception("delivery could not be translated; dropped", extra={"source": self.source, "delivery": entry.event_id})
                plans.append((entry.event_id, None))
        outcomes = await asyncio.gather(*(self._run(delivery_id, plan) for delivery_id, plan in plans), return_exceptions=True)
        for (delivery_id, _), outcome in zip(plans, outcomes, strict=True):
            if isinstance(outcome, Exception):
                log.error("delivery could not be processed; dropped", exc_info=outcome, extra={"source": self.source, "delivery": delivery_id})
                await self.finish(delivery_id)
        return len(entries)

    async def _run(self, delivery_id: str, plan: Plan | None) -> None:
        if plan is None:
            await self.finish(delivery_id)
        else:
            await self._carry_out(delivery_id, plan)

    async def finish(self, delivery_id: str) -> None:
        """Marks a delivery that produced no event as done (a retry of it is still dropped)."""
        store, now = self.runtime.store, self.runtime.clock.now()
        await self.runtime.unit(lambda: store.finish_inbound(self.source, delivery_id, now=now))
