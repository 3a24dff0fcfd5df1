"""WAL bench: how big SQLite's write-ahead log gets under sustained load, and what bounding it costs.

The report that started it: the -wal file grew without bound under load (456 MB for a 30 MB
database). Two phases, each run for the code before the fix (`--before`, a git ref, extracted with
`git archive`) and for this checkout, alternately, on the same core:

1. server: a real `supportbot serve` (bench/webchat_load.py's start_server) under the web chat
   bench's closed-loop customers; the -wal and database file sizes are sampled every 0.25 s during
   the load and for a few idle seconds after it, with the customers' POST latency (send -> reply
   committed and readable);
2. commits: the store alone (bench/wal_commits.py, that checkout's SQLiteStore), group commits as
   fast as a busy loop allows; each commit's wall time, which includes any wait for the
   checkpointer's write lock.

Results: a table on stdout and bench/results/wal.json (every sample). Exit status 1 when this
checkout's log passes its limit under load or is not emptied when idle.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import percentile, verdict
from bench.customers import CustomerScript
from bench.webchat_load import RESULTS_DIR, ROOT, background_cpu, machine_facts, pick_cores, start_server, sustained
from bot.store.checkpoint import DEFAULT_WAL_MAX_BYTES

BENCH = Path(__file__).resolve().parent
DEFAULT_BEFORE = "76fd25e"  # the last commit whose checkpointer only ever ran PASSIVE checkpoints
MB = 1024 * 1024
SAMPLE_EVERY_S = 0.25
IDLE_TARGET_BYTES = MB  # what may be left of the log after the idle seconds


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """The tree of `ref` in a temporary directory (nothing in the repository changes)."""
    with tempfile.TemporaryDirectory(prefix="supportbot-wal-before-") as tmp:
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


def sizes(db: Path) -> tuple[int, int]:
    """(log bytes, database bytes); 0 for a file that is not there."""
    wal = db.with_name(db.name + "-wal")
    return (wal.stat().st_size if wal.exists() else 0, db.stat().st_size if db.exists() else 0)


async def server_phase(session: aiohttp.ClientSession, code: Path, workdir: Path, core: int, args: argparse.Namespace) -> dict[str, Any]:
    """The web chat load against `code`'s server, sampling the log; then idle seconds, still sampling."""
    server = await start_server(session, workdir, core, code=code)
    db = workdir / "supportbot.db"
    samples: list[tuple[float, int, int]] = []
    started = time.perf_counter()

    async def sample() -> None:
        while True:
            samples.append((round(time.perf_counter() - started, 2), *sizes(db)))
            await asyncio.sleep(SAMPLE_EVERY_S)

    sampler = asyncio.create_task(sample())
    try:
        load = await sustained(session, server, concurrency=args.concurrency, duration=args.duration, ramp=1.0,
                               check_every=0, script=CustomerScript(args.seed), audit_sample=0)
        load_ended = time.perf_counter() - started
        await asyncio.sleep(args.idle)
    finally:
        sampler.cancel()
        server.stop()
    during = [wal for at, wal, _ in samples if at <= load_ended]
    after = [wal for at, wal, _ in samples if at > load_ended]
    return {
        "messages_per_s": load["messages_per_s"], "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"],
        "max_ms": load["max_ms"], "errors": load["errors"], "server_cpu_pct": load["server_cpu_pct_of_core"],
        "other_work_on_server_core_pct": load["other_work_on_server_core_pct"],
        "wal_max_bytes": max(during), "wal_end_of_load_bytes": during[-1], "wal_after_idle_bytes": after[-1],
        "db_bytes": samples[-1][2], "load_seconds": round(load_ended, 2), "samples": samples,
    }


def commits_phase(code: Path, workdir: Path, core: int, seconds: float) -> dict[str, Any]:
    """bench/wal_commits.py against `code`'s store, pinned to `core`."""
    workdir.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, str(BENCH / "wal_commits.py"), str(workdir / "commits.db"), str(seconds)],
        env=os.environ | {"PYTHONPATH": str(code)}, capture_output=True, text=True, check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )
    run: dict[str, Any] = json.loads(done.stdout)
    latencies: list[float] = run.pop("latencies_s")
    return run | {
        "commits_per_s": run["commits"] / seconds,
        "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000, "wal_max_bytes": max(wal for _, wal, _ in run["samples"]),
        "db_bytes": run["samples"][-1][2],
    }


def at_times(samples: list[tuple[float, int, int]], marks: list[float]) -> str:
    """The log's size at each mark (the first sample at or after it), in MB."""
    shown = []
    for mark in marks:
        wal = next((s[1] for s in samples if s[0] >= mark), samples[-1][1])
        shown.append(f"{wal / MB:,.0f}")
    return " / ".join(shown)


def table(runs: list[dict[str, Any]], args: argparse.Namespace) -> str:
    marks = [m for m in (5.0, 10.0, 15.0, 20.0, 30.0, 60.0) if m <= args.duration + 1] or [args.duration]
    head = "| | " + " | ".join(r["label"] for r in runs) + " |"
    rows = [head, "|---|" + "---:|" * len(runs)]

    def row(name: str, cell: Callable[[dict[str, Any]], str]) -> None:
        rows.append(f"| {name} | " + " | ".join(cell(r) for r in runs) + " |")

    row(f"Server, {args.concurrency} customers for {args.duration:g} s: -wal file at "
        + " / ".join(f"{m:g}" for m in marks) + " s (MB)", lambda r: at_times(r["server"]["samples"], marks))
    row("-wal file, largest during the load", lambda r: f"{r['server']['wal_max_bytes'] / MB:,.1f} MB")
    row("database file at the end", lambda r: f"{r['server']['db_bytes'] / MB:,.1f} MB")
    row(f"-wal file after {args.idle:g} s idle", lambda r: f"{r['server']['wal_after_idle_bytes'] / MB:,.1f} MB")
    row("messages/s", lambda r: f"{r['server']['messages_per_s']:,.0f}")
    row("POST latency p50 / p99 / max", lambda r: "{p50_ms:.1f} / {p99_ms:.1f} / {max_ms:.0f} ms".format(**r["server"]))
    row("server's CPU / other processes' on its core", lambda r: "{server_cpu_pct:.0f} / {other_work_on_server_core_pct:.0f} %".format(**r["server"]))
    row(f"Store alone, {args.commit_seconds:g} s: commits/s (4 units each)", lambda r: f"{r['commits']['commits_per_s']:,.0f}")
    row("commit latency p50 / p99 / max", lambda r: "{p50_ms:.2f} / {p99_ms:.2f} / {max_ms:.1f} ms".format(**r["commits"]))
    row("-wal file, largest", lambda r: f"{r['commits']['wal_max_bytes'] / MB:,.1f} MB")
    return "\n".join(rows)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.wal_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--before", default=DEFAULT_BEFORE,
                   help=f"git ref of the code to compare with ({DEFAULT_BEFORE}: before the bounded log); 'none' to skip")
    p.add_argument("--rounds", type=int, default=1, help="before/after pairs, alternating (1)")
    p.add_argument("--concurrency", type=int, default=32, help="web chat customers (32)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of server load (20)")
    p.add_argument("--idle", type=float, default=3.0, help="idle seconds sampled after the load (3)")
    p.add_argument("--commit-seconds", type=float, default=10.0, help="seconds of the store-alone phase (10)")
    p.add_argument("--seed", type=int, default=1234)
    return p.parse_args(argv)


async def measure(args: argparse.Namespace, before: Path | None, tmp: Path, server_core: int) -> list[dict[str, Any]]:
    variants = ([("before", before)] if before else []) + [("after", ROOT)]
    runs = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency + 8)) as session:
        for n in range(args.rounds):
            for name, code in variants:
                label = f"{name} ({args.before})" if name == "before" else "after (this checkout)"
                label += f" #{n + 1}" if args.rounds > 1 else ""
                print(f"  {label}: server under load for {args.duration:g} s, then {args.idle:g} s idle", flush=True)
                workdir = tmp / f"{name}{n}"
                server = await server_phase(session, code, workdir / "server", server_core, args)
                print(f"    -wal file largest {server['wal_max_bytes'] / MB:,.1f} MB, after idle "
                      f"{server['wal_after_idle_bytes'] / MB:,.1f} MB; p99 {server['p99_ms']:.1f} ms", flush=True)
                commits = commits_phase(code, workdir / "commits", server_core, args.commit_seconds)
                print(f"    store alone: commit p50 {commits['p50_ms']:.2f} ms, p99 {commits['p99_ms']:.2f} ms, -wal file "
                      f"largest {commits['wal_max_bytes'] / MB:,.1f} MB", flush=True)
                runs.append({"label": label, "variant": name, "server": server, "commits": commits})
    return runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    server_core, client_core, _ = pick_cores()
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {client_core})
    print(f"supportbot WAL bench: servers and stores on core {server_core}, load generator on core {client_core}",
          flush=True)
    background = asyncio.run(background_cpu(sorted({server_core, client_core})))
    print(f"  other work on those cores before the run: {background:.0f} % of a core", flush=True)
    try:
        with contextlib.ExitStack() as stack:
            before = None
            if args.before != "none":
                try:
                    before = stack.enter_context(checkout(args.before))
                except subprocess.CalledProcessError:  # e.g. a copy without the git history
                    print(f"  cannot extract {args.before} with git archive: measuring this checkout only", flush=True)
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="supportbot-wal-")))
            runs = asyncio.run(measure(args, before, tmp, server_core))
    finally:
        os.sched_setaffinity(0, affinity)
    mine = [r for r in runs if r["variant"] == "after"]
    passed = {
        "bounded": all(r["server"]["wal_max_bytes"] <= DEFAULT_WAL_MAX_BYTES for r in mine),
        "emptied_when_idle": all(r["server"]["wal_after_idle_bytes"] <= IDLE_TARGET_BYTES for r in mine),
        "errors": all(r["server"]["errors"] == 0 for r in runs),
    }
    rendered = table(runs, args)
    print()
    print(rendered)
    print(f"\nthis checkout: -wal file within {DEFAULT_WAL_MAX_BYTES // MB} MB under load: {verdict(passed['bounded'])}; "
          f"at most {IDLE_TARGET_BYTES // MB} MB after {args.idle:g} s idle: {verdict(passed['emptied_when_idle'])}; "
          f"HTTP errors: {verdict(passed['errors'])}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "wal.json").write_text(json.dumps(
        {"benchmark": "wal", "machine": machine_facts(), "settings": vars(args), "other_cpu_pct_before": background,
         "pass": passed, "runs": runs}, indent=1) + "\n")
    print(f"wrote {RESULTS_DIR / 'wal.json'}")
    return 0 if all(passed.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
