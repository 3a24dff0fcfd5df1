"""Offline evaluation of a knowledge base against labelled queries (`supportbot kb eval`).

A query file is JSON Lines, one `{"text": ..., "expected": "<article file stem>" | null}`
per line; `null` means no article should be offered (the customer goes to a person).

Over the in-scope queries (expected not null) the report gives the ranking's top-1 and
top-3 accuracy and MRR (over the top 10 hits; an article ranked lower counts 0), and the
share *answered correctly at the configured threshold*: the best hit is the expected
article and its confidence reaches the threshold (declining counts as wrong). Over the
out-of-scope queries it gives the share declined (no hit reaches the threshold). Latency
is the wall time of one `search` call per query, which is all `suggest` does as well.

To choose a knowledge base's threshold, the report also gives the same two shares (and the
share of in-scope queries offered a wrong article) at thresholds 0.1 to 0.9, and how well the
top hit's confidence is calibrated on these queries: the expected calibration error, the
gap between confidence and how often the top hit is right, averaged over ten confidence bins
weighted by their queries (0 = perfectly calibrated; out-of-scope queries count as wrong).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from knowledge.index import KnowledgeBase

__all__ = ["EvalReport", "LabelledQuery", "QueryFileError", "evaluate", "format_report", "load_queries"]

# MRR looks this deep into the ranking.
MRR_DEPTH = 10
SWEEP = tuple(round(0.1 * i, 1) for i in range(1, 10))  # thresholds the report compares
CALIBRATION_BINS = 10


class QueryFileError(Exception):
    """A malformed query file (message names the file and line)."""


@dataclass(frozen=True)
class LabelledQuery:
    text: str
    expected: str | None  # article id (file stem), or None when no article should be offered


@dataclass(frozen=True)
class EvalReport:
    """Figures of one evaluation; `as_dict` gives the `--json` object."""

    top1: float | None
    top3: float | None
    mrr: float | None
    answered_correctly: float | None
    declined_out_of_scope: float | None
    mean_ms: float
    p99_ms: float
    queries: int
    in_scope: int
    out_of_scope: int
    threshold: float
    articles: int
    unknown_expected: int  # in-scope queries whose expected article is not in the KB
    # per threshold in SWEEP: (threshold, answered correctly, offered a wrong article, declined out of scope)
    by_threshold: tuple[tuple[float, float | None, float | None, float | None], ...] = ()
    calibration_error: float | None = None  # expected calibration error of the top hit's confidence

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_queries(path: Path) -> list[LabelledQuery]:
    """Reads a JSONL query file; blank lines are skipped, anything else malformed raises QueryFileError."""
    queries: list[LabelledQuery] = []
    name = Path(path).name
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryFileError(f"{name}: cannot read file ({type(exc).__name__})") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QueryFileError(f"{name}:{number}: not valid JSON") from exc
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise QueryFileError(f"{name}:{number}: expected an object with a string 'text'")
        expected = item.get("expected")
        if expected is not None and not isinstance(expected, str):
            raise QueryFileError(f"{name}:{number}: 'expected' must be an article file stem or null")
        queries.append(LabelledQuery(text=item["text"], expected=expected or None))
    return queries


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def evaluate(kb: KnowledgeBase, queries: Iterable[LabelledQuery], *, warmup: int = 20) -> EvalReport:
    """Runs every query through `kb.search` (customer articles) and scores the ranking and the threshold."""
    queries = list(queries)
    for q in queries[:warmup]:  # first calls fill caches; don't let them dominate p99
        kb.search(q.text, limit=MRR_DEPTH)
    times: list[float] = []
    n_in = n_out = top1 = top3 = unknown = 0
    rr = 0.0
    tops: list[tuple[float, bool, bool]] = []  # per query: top confidence, in scope, top hit is the expected one
    for q in queries:
        start = time.perf_counter()
        hits = kb.search(q.text, limit=MRR_DEPTH)
        times.append((time.perf_counter() - start) * 1000.0)
        tops.append((hits[0].confidence if hits else 0.0, q.expected is not None, bool(hits) and hits[0].article.id == q.expected))
        if q.expected is None:
            n_out += 1
            continue
        n_in += 1
        unknown += kb.get(q.expected) is None
        ids = [h.article.id for h in hits]
        top1 += ids[:1] == [q.expected]
        top3 += q.expected in ids[:3]
        if q.expected in ids:
            rr += 1.0 / (ids.index(q.expected) + 1)

    _, answered, _, declined = _at_threshold(tops, kb.threshold, n_in, n_out)
    return EvalReport(
        top1=_share(top1, n_in),
        top3=_share(top3, n_in),
        mrr=_share(rr, n_in),
        answered_correctly=answered,
        declined_out_of_scope=declined,
        mean_ms=round(sum(times) / len(times), 3) if times else 0.0,
        p99_ms=round(_percentile(times, 99), 3),
        queries=len(queries),
        in_scope=n_in,
        out_of_scope=n_out,
        threshold=kb.threshold,
        articles=len(kb.articles),
        unknown_expected=unknown,
        by_threshold=tuple(_at_threshold(tops, t, n_in, n_out) for t in SWEEP),
        calibration_error=_calibration_error(tops),
    )


def _at_threshold(
    tops: Sequence[tuple[float, bool, bool]], threshold: float, n_in: int, n_out: int
) -> tuple[float, float | None, float | None, float | None]:
    """(threshold, answered correctly, offered a wrong article, declined out of scope) at `threshold`."""
    right = sum(conf >= threshold and hit for conf, in_scope, hit in tops if in_scope)
    wrong = sum(conf >= threshold and not hit for conf, in_scope, hit in tops if in_scope)
    declined = sum(conf < threshold for conf, in_scope, _ in tops if not in_scope)
    return (threshold, _share(right, n_in), _share(wrong, n_in), _share(declined, n_out))


def _calibration_error(tops: Sequence[tuple[float, bool, bool]]) -> float | None:
    """Expected calibration error of the top hit's confidence over CALIBRATION_BINS equal-width bins."""
    if not tops:
        return None
    bins: dict[int, list[tuple[float, bool]]] = {}
    for conf, _, hit in tops:
        bins.setdefault(min(int(conf * CALIBRATION_BINS), CALIBRATION_BINS - 1), []).append((conf, hit))
    gap = sum(abs(sum(c for c, _ in b) - sum(h for _, h in b)) for b in bins.values())  # per bin: n x |mean conf - accuracy|
    return round(gap / len(tops), 4)


def _share(count: float, total: int) -> float | None:
    return round(count / total, 4) if total else None


def format_report(report: EvalReport) -> str:
    """The human-readable report `supportbot kb eval` prints."""

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 100:.1f}%"

    lines = [
        f"{report.queries} queries: {report.in_scope} in scope, {report.out_of_scope} out of scope; "
        f"{report.articles} articles; threshold {report.threshold:g}",
        f"  ranking (in scope):      top-1 {pct(report.top1)}   top-3 {pct(report.top3)}   "
        f"MRR {'n/a' if report.mrr is None else f'{report.mrr:.3f}'}",
        f"  answered correctly:      {pct(report.answered_correctly)} of in-scope queries (declining counts as wrong)",
        f"  declined out of scope:   {pct(report.declined_out_of_scope)} of out-of-scope queries",
        f"  latency per query:       mean {report.mean_ms:.2f} ms   p99 {report.p99_ms:.2f} ms",
    ]
    if report.calibration_error is not None:
        lines.append(f"  calibration:             expected calibration error {report.calibration_error:.3f} "
                     "(top hit's confidence against how often it is right; 0 is perfect)")
    if report.by_threshold:
        lines.append("  at other thresholds:     threshold   answered correctly   offered a wrong article   declined out of scope")
        for threshold, right, wrong, declined in report.by_threshold:
            mark = "  <- configured" if math.isclose(threshold, report.threshold) else ""
            lines.append(f"                           {threshold:9.1f}   {pct(right):>18}   {pct(wrong):>23}   {pct(declined):>21}{mark}")
    if report.unknown_expected:
        lines.append(f"  warning: {report.unknown_expected} in-scope queries expect an article that is not in the folder")
    return "\n".join(lines)
