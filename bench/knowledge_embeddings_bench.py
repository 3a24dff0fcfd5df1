"""Benchmark of the optional embeddings extra: banking77 ranking and abstention with sentence embeddings.

    .venv/bin/python -m bench.knowledge_embeddings_bench [--json FILE] [--model NAME_OR_PATH]
    (make test-embeddings installs the extra; make bench-embeddings runs this)

Builds the same banking77 knowledge bases as bench/knowledge_bench.py (make_kb.py, 8
questions per article, seed 0, test split; with every intent and with --unseen-intents 15),
indexes them with the embedding encoder (default: the bundled all-MiniLM-L6-v2) and runs the
`supportbot kb eval` evaluation at the default threshold. The process pins itself to one CPU,
so latency includes one encode of each message on one core. Prints the figures against the
targets of issue 5 for the extra; `main()` returns them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.knowledge_bench import ROOT, _get, _make_kb, _pin_one_core

TARGETS: list[tuple[str, str, float, str]] = [
    ("full.top1", "banking77 top-1", 0.85, ">="),
    ("full.top3", "banking77 top-3", 0.95, ">="),
    ("unseen15.answered_correctly", "unseen-15: answered correctly", 0.72, ">="),
    ("unseen15.declined_out_of_scope", "unseen-15: declined out of scope", 0.82, ">="),
]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description="Ranking and abstention with the embeddings extra.")
    ap.add_argument("--model", default="", help="sentence-transformers folder or cached name (default: bundled MiniLM)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from knowledge.embeddings import SentenceEncoder
    from knowledge.evaluate import evaluate, load_queries
    from knowledge.index import KnowledgeBase

    results: dict[str, Any] = {"cpu": _pin_one_core()}
    encoder = SentenceEncoder(args.model, threads=1)
    start = time.perf_counter()
    encoder.load()
    results["model"] = {"name": encoder.name, "load_s": round(time.perf_counter() - start, 2)}
    KnowledgeBase([])  # spaCy start-up is not part of an index build
    with tempfile.TemporaryDirectory() as tmp:
        for name, unseen in (("full", 0), ("unseen15", 15)):
            out = Path(tmp) / name
            _make_kb(out, unseen)
            start = time.perf_counter()
            kb = KnowledgeBase.from_folder(out / "articles", reload_interval=None, embeddings=encoder)
            build_s = time.perf_counter() - start
            results[name] = evaluate(kb, load_queries(out / "test_queries.jsonl")).as_dict()
            results[name]["build_s"] = round(build_s, 2)

    print(f"knowledge ranking with embeddings ({results['model']['name']}; {results['cpu']})")
    for name in ("full", "unseen15"):
        r = results[name]
        print(f"  {name:9s} top-1 {r['top1']}  top-3 {r['top3']}  MRR {r['mrr']}  answered {r['answered_correctly']}  "
              f"declined {r['declined_out_of_scope']}  mean {r['mean_ms']} ms  p99 {r['p99_ms']} ms  "
              f"index build {r['build_s']} s ({r['articles']} articles)")
    for key, label, target, direction in TARGETS:
        value = _get(results, key)
        ok = value is not None and (value >= target if direction == ">=" else value <= target)
        print(f"  {label:40s} {value!s:>8}  target {direction} {target:<6g} {'pass' if ok else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
