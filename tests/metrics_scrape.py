"""Reads GET /metrics the way Prometheus would (prometheus_client's own parser)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from adapters.server import RUNTIME, SETTINGS
from tests.staff import bearer


async def scrape(client: TestClient[Any, Any]) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample as {(name, labels): value}, read with a staff token (Prometheus's bearer
    credentials); fails unless the endpoint answers in the exposition format."""
    response = await client.get("/metrics", headers=await bearer(client.app[RUNTIME].store, client.app[SETTINGS].roster[0].id))
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain; version=")
    text = await response.text()
    return {(s.name, frozenset(s.labels.items())): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def sample(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """One sample's value, 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
