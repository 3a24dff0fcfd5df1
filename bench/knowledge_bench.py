"""Knowledge-base benchmark: ranking quality on banking77, abstention, and speed at 10,000 articles.

    .venv/bin/python -m bench.knowledge_bench [--json FILE]   (make bench-knowledge)

1. Builds the banking77 knowledge base with ../shared/tools/make_kb.py (8 questions per
   article, seed 0) twice: with every intent, and with --unseen-intents 15 (their test
   queries expect no article). Runs the `supportbot kb eval` evaluation on both at the
   default threshold.
2. On one core (the process pins itself to one CPU): builds an index of 10,000 synthetic
   articles (titles, tags, 8 questions and a ~120-word body each, made from banking77
   train utterances) and times the build and the latency of 2,000 test-split messages.

Prints a table with the targets of issue 5 and pass/fail; `main()` returns the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
MAKE_KB = SHARED / "tools" / "make_kb.py"
BANKING = SHARED / "data" / "banking77"

TARGETS: list[tuple[str, str, float, str]] = [
    # key, label, target, direction
    ("full.top1", "banking77 top-1", 0.77, ">="),
    ("full.top3", "banking77 top-3", 0.91, ">="),
    ("unseen15.answered_correctly", "unseen-15: answered correctly", 0.60, ">="),
    ("unseen15.declined_out_of_scope", "unseen-15: declined out of scope", 0.75, ">="),
    ("scale.p99_ms", "10k articles: p99 latency (ms)", 5.0, "<="),
    ("scale.build_s", "10k articles: index build (s)", 15.0, "<="),
]


def _pin_one_core() -> str:
    try:
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[-1]})
        return f"pinned to CPU {cores[-1]}"
    except (AttributeError, OSError):
        return "not pinned (sched_setaffinity unavailable)"


def _make_kb(out: Path, unseen: int) -> None:
    subprocess.run(
        [sys.executable, str(MAKE_KB), "--dataset", "banking77", "--input", str(BANKING), "--out", str(out),
         "--per-article", "8", "--seed", "0", "--unseen-intents", str(unseen), "--overwrite"],
        check=True, capture_output=True,
    )


def _quality(tmp: Path) -> dict[str, Any]:
    from knowledge.evaluate import evaluate, load_queries
    from knowledge.index import KnowledgeBase

    results: dict[str, Any] = {}
    for name, unseen in (("full", 0), ("unseen15", 15)):
        out = tmp / name
        _make_kb(out, unseen)
        kb = KnowledgeBase.from_folder(out / "articles", reload_interval=None)
        results[name] = evaluate(kb, load_queries(out / "test_queries.jsonl")).as_dict()
    return results


def _synthetic_articles(n: int, seed: int = 0) -> list[Any]:
    """n articles written from banking77 train utterances: realistic vocabulary, no duplicates."""
    from knowledge.index import Article

    with (BANKING / "train.csv").open(newline="", encoding="utf-8") as f:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(f)]
    rng = random.Random(seed)
    texts = [" ".join(t.split()) for t, _ in rows]
    intents = sorted({c for _, c in rows})
    articles = []
    for k in range(n):
        intent = intents[k % len(intents)]
        words = intent.replace("_", " ").split()
        extra = rng.choice(texts).split()[:3]
        title = " ".join(words + extra).capitalize()
        questions = tuple(rng.sample(texts, 8))
        body = " ".join(rng.sample(texts, 10))
        articles.append(Article(
            id=f"article-{k:05d}", title=title, summary=questions[0], url=f"https://help.example.com/{k}",
            tags=tuple(words), audience="customer", questions=questions, body=body,
        ))
    return articles


def _scale(n_articles: int, n_queries: int) -> dict[str, Any]:
    from knowledge.index import KnowledgeBase

    articles = _synthetic_articles(n_articles)
    KnowledgeBase(articles[:50])  # spaCy start-up is not part of an index build
    start = time.perf_counter()
    kb = KnowledgeBase(articles)
    build_s = time.perf_counter() - start
    with (BANKING / "test.csv").open(newline="", encoding="utf-8") as f:
        queries = [r["text"] for r in csv.DictReader(f)]
    random.Random(1).shuffle(queries)
    queries = queries[:n_queries]
    for q in queries[:100]:
        kb.search(q)
    times = []
    for q in queries:
        t0 = time.perf_counter()
        kb.search(q)
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    return {
        "articles": n_articles,
        "queries": len(times),
        "build_s": round(build_s, 2),
        "mean_ms": round(sum(times) / len(times), 3),
        "p50_ms": round(times[len(times) // 2], 3),
        "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3),
        "max_ms": round(times[-1], 3),
    }


def _get(results: dict[str, Any], dotted: str) -> Any:
    value: Any = results
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description="Knowledge-base ranking, abstention and speed benchmark.")
    ap.add_argument("--articles", type=int, default=10_000, help="articles in the speed test (default 10000)")
    ap.add_argument("--queries", type=int, default=2_000, help="messages timed in the speed test (default 2000)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    pinned = _pin_one_core()
    results: dict[str, Any] = {"cpu": pinned}
    with tempfile.TemporaryDirectory() as tmp:
        results.update(_quality(Path(tmp)))
    results["scale"] = _scale(args.articles, args.queries)

    print(f"knowledge base benchmark ({pinned})")
    print(f"{'measure':42} {'value':>9} {'target':>9}  result")
    ok_all = True
    checks = []
    for key, label, target, direction in TARGETS:
        value = _get(results, key)
        ok = value is not None and (value >= target if direction == ">=" else value <= target)
        ok_all &= ok
        checks.append({"measure": key, "value": value, "target": f"{direction} {target}", "pass": ok})
        shown = "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{label:42} {shown:>9} {direction + ' ' + format(target, 'g'):>9}  {'pass' if ok else 'FAIL'}")
    for name in ("full", "unseen15"):
        r = results[name]
        print(f"  {name}: top-1 {r['top1']}, top-3 {r['top3']}, MRR {r['mrr']}, answered correctly "
              f"{r['answered_correctly']}, declined {r['declined_out_of_scope']}, mean {r['mean_ms']} ms, p99 {r['p99_ms']} ms")
    s = results["scale"]
    print(f"  scale: {s['articles']} articles built in {s['build_s']} s; {s['queries']} messages: mean {s['mean_ms']} ms, "
          f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, max {s['max_ms']} ms")
    results["checks"] = checks
    results["pass"] = ok_all
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return results


if __name__ == "__main__":
    sys.exit(0 if main()["pass"] else 1)
