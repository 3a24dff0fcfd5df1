"""The numbers managers ask for (SOPs 000 and 004): volume, busiest day, growth, first-contact
resolution, resolution time, CSAT, article helpfulness and SME consults."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain import Case


def build(cases: Sequence[Case], surveys: Sequence[dict[str, Any]], offers: Sequence[dict[str, Any]], *, timezone: str) -> dict[str, Any]:
    zone = ZoneInfo(timezone)
    days = Counter(datetime.fromtimestamp(c.created_at, zone).date().isoformat() for c in cases)
    months = Counter(datetime.fromtimestamp(c.created_at, zone).strftime("%Y-%m") for c in cases)
    resolved = [c for c in cases if c.resolved_at is not None and c.resolution in ("agent", "self_service")]
    first_contact = [c for c in resolved if c.tier == 1 and not c.consults and c.previous_case_id is None]
    follow_ups = {c.previous_case_id for c in cases if c.previous_case_id is not None}
    first_contact = [c for c in first_contact if c.id not in follow_ups]
    hours = [((c.resolved_at or c.created_at) - c.created_at) / 3600 for c in resolved]
    ratings = [int(s["rating"]) for s in surveys]
    consults = [k for c in cases for k in c.consults]
    ordered_months = sorted(months)
    growth = None
    if len(ordered_months) >= 2 and months[ordered_months[-2]]:
        growth = round(100 * (months[ordered_months[-1]] / months[ordered_months[-2]] - 1), 1)
    busiest = max(days.items(), key=lambda item: item[1]) if days else None
    return {
        "cases": len(cases),
        "by_month": dict(sorted(months.items())),
        "growth_last_month_pct": growth,
        "busiest_day": {"date": busiest[0], "cases": busiest[1]} if busiest else None,
        "resolved": len(resolved),
        "self_service": sum(1 for c in resolved if c.resolution == "self_service"),
        "first_contact_resolution": round(len(first_contact) / len(resolved), 3) if resolved else None,
        "median_resolution_hours": round(statistics.median(hours), 2) if hours else None,
        "csat": {"surveys": len(ratings), "average": round(statistics.fmean(ratings), 2) if ratings else None},
        "articles": {
            article: {"offered": t.offered, "helped": t.helped, "helpful": t.helpful}
            for article, t in sorted(article_tallies(offers).items())
        },
        "consults": {
            "total": len(consults),
            "repeat_on_same_contact": sum(1 for k in consults if k.repeat_reason),
            "repeat_reasons": [k.repeat_reason for k in consults if k.repeat_reason],
            "unclaimed": sum(1 for k in consults if k.sme_id is None),
            "median_claim_wait_s": _median([k.claimed_at - k.created_at for k in consults if k.claimed_at is not None]),
        },
    }


@dataclass
class ArticleTally:
    """What happened to one article's offers; `came_back` counts helped answers that did not last."""

    offered: int = 0
    helped: int = 0
    not_helped: int = 0
    no_answer: int = 0
    came_back: int = 0

    @property
    def helpful(self) -> float | None:
        """(helped - came back) / (helped + not helped): offers left unanswered say nothing either way."""
        answered = self.helped + self.not_helped
        return round(max(self.helped - self.came_back, 0) / answered, 3) if answered else None

    def count(self, event: str) -> None:
        match event:
            case "offered":
                self.offered += 1
            case "helped":
                self.helped += 1
            case "not_helped":
                self.not_helped += 1
            case "no_answer":
                self.no_answer += 1
            case "came_back":
                self.came_back += 1

    def as_dict(self) -> dict[str, Any]:
        return {"offered": self.offered, "helped": self.helped, "not_helped": self.not_helped,
                "no_answer": self.no_answer, "came_back": self.came_back, "helpful": self.helpful}


def article_tallies(offers: Iterable[dict[str, Any]]) -> dict[str, ArticleTally]:
    """Per-article counts from the offers table, in row order. An outcome that names no article
    ("still need help", no answer, "that worked" to several) counts for every article that case was offered."""
    shown: dict[int, list[str]] = {}
    tallies: defaultdict[str, ArticleTally] = defaultdict(ArticleTally)
    for offer in offers:
        ids = offer_article_ids(offer)
        if offer["event"] == "offered":
            shown[offer["case_id"]] = ids
        for article in ids or shown.get(offer["case_id"], []):
            tallies[article].count(offer["event"])
    return dict(tallies)


def offer_article_ids(offer: dict[str, Any]) -> list[str]:
    """The articles an offer record names (a JSON list in the store)."""
    ids: list[str] = json.loads(offer["article_ids"])
    return ids


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None
