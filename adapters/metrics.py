"""GET /metrics: what the service holds and has done, in Prometheus's text format (prometheus_client).

For operators: counts only, never a customer's words or details. What to alert on:
`supportbot_outbox_pending` growing (a platform is refusing or rate-limiting posts; its retries
show in `supportbot_deliveries_retried_total`), `supportbot_inbox_pending` growing (deliveries
recorded but not yet turned), `supportbot_cases{state="queued"}` with no agent online, and
`supportbot_adapter_events_total{what="rate_limited_notice"}` (Slack dropping events).

Gauges are read from the store when scraped; counters count since the process started.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.domain import OPEN_STATES, AgentStatus
from bot.runtime import Runtime
from bot.store.base import Backlog


@runtime_checkable
class Counted(Protocol):
    """An adapter that counts what it alone sees (deliveries dropped as retries, platform notices)."""

    name: str
    counts: collections.Counter[str]


@dataclass(frozen=True)
class Snapshot:
    backlog: Backlog
    agents_online: int
    agents_available: int


async def snapshot(runtime: Runtime) -> Snapshot:
    """Read when scraped: counts from the store (no rows loaded), presence from the staff list."""
    agents = await runtime.store.agents()
    return Snapshot(
        backlog=await runtime.store.backlog(),
        agents_online=sum(a.online for a in agents),
        agents_available=sum(a.online and a.status is AgentStatus.AVAILABLE for a in agents),
    )


class _Families(Collector):
    def __init__(self, runtime: Runtime, now: Snapshot) -> None:
        self.runtime, self.now = runtime, now

    def collect(self) -> Iterator[Metric]:
        backlog = self.now.backlog
        cases = GaugeMetricFamily("supportbot_cases", "Open cases by state.", labels=["state"])
        for state in sorted(OPEN_STATES):
            cases.add_metric([state.value], backlog.cases.get(state.value, 0))
        yield cases
        yield GaugeMetricFamily("supportbot_outbox_pending", "Outbound messages not yet delivered (retries included).",
                                value=backlog.outbox)
        inbox = GaugeMetricFamily("supportbot_inbox_pending", "Platform deliveries recorded but not yet handled.", labels=["source"])
        for source in sorted(set(backlog.inbox) | set(self.runtime.outlets)):  # every adapter, so a series never vanishes
            inbox.add_metric([source], backlog.inbox.get(source, 0))
        yield inbox
        yield GaugeMetricFamily("supportbot_agents_online", "Staff with a console or chat tool connected.", value=self.now.agents_online)
        yield GaugeMetricFamily("supportbot_agents_available", "Staff online and available for chats.", value=self.now.agents_available)

        counts = self.runtime.counts
        yield _counter("supportbot_events", "Events handled, by type.", "type", counts.events)
        yield _counter("supportbot_deliveries", "Outbox entries delivered, by adapter.", "adapter", counts.delivered)
        yield _counter("supportbot_deliveries_retried", "Deliveries that failed and were kept for a retry, by adapter.",
                       "adapter", counts.retried)
        adapters = CounterMetricFamily("supportbot_adapter_events", "What an adapter alone sees, by adapter and kind.",
                                       labels=["adapter", "what"])
        for outlet in self.runtime.outlets.values():
            if isinstance(outlet, Counted):
                for what, count in sorted(outlet.counts.items()):
                    adapters.add_metric([outlet.name, what], count)
        yield adapters


def _counter(name: str, documentation: str, label: str, counts: collections.Counter[str]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for key, count in sorted(counts.items()):
        family.add_metric([key], count)
    return family


def setup(app: web.Application, runtime: Runtime) -> None:
    async def metrics(request: web.Request) -> web.Response:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(runtime, await snapshot(runtime)))
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", metrics)
