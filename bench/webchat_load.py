"""Web chat load benchmark: scripted customers against a real `supportbot serve` over HTTP.

The server runs as a subprocess on the embedded SQLite store (a fresh temporary directory per
run, loopback only, a free port), pinned to one core; this process, the load generator, is
pinned to another. Phases:

1. start-up: spawn -> first 200 from /healthz, and spawn -> first customer message answered
   (the service answers /healthz before its language data and article index have loaded),
   three times (three fresh servers); the last server is kept for the remaining phases;
2. idle memory: RSS a moment after that first message, before any other traffic;
3. memory growth: a warm-up, then N conversations (each opened and sent one problem
   description), RSS before and after -> MB per 1,000 conversations;
4. unloaded latency: one customer for a few seconds (how fast one message is on its own);
5. sustained load: C concurrent customers in a closed loop (no think time) for D seconds,
   each running journey after journey (see bench.customers); POST latency = time until the
   bot's replies are committed and readable; a sample of messages is checked with
   GET ?after=, and afterwards a sample of whole transcripts is audited for a bot reply after
   every customer message.

Results: a table on stdout, bench/results/webchat.json, and the results block of
bench/README.md. `--profile` instead runs the server under cProfile (bench/profiled_server.py),
fills the store as phase 3 does, runs phase 5 and prints the top functions (figures from a
profiled run are not written to the README).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import pstats
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench.common import Child, core_busy_seconds, free_port, percentile, supportbot_command, verdict, wait_until_healthy
from bench.customers import CustomerScript

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS_DIR = BENCH / "results"
README = BENCH / "README.md"
MB = 1024 * 1024
NOISY_PCT = 15.0  # other processes using more than this share of a core make the figures unreliable
START_MARK = "<!-- results:start (written by `python -m bench`; edits inside are overwritten) -->"
END_MARK = "<!-- results:end -->"

TARGETS = {
    "startup_s": 2.0,
    "idle_rss_mb": 200.0,
    "rss_growth_mb_per_1000": 5.0,
    "p99_ms": 50.0,
}

SETTINGS = """\
# Written by the web chat bench: always open, nobody on the roster online (the bot-only path).
[business_hours]
open = "00:00"
close = "24:00"

[[roster]]
id = "ana"
name = "Ana"
role = "agent"

[[roster]]
id = "maya"
name = "Maya"
role = "manager"
on_duty = true
"""
# One client address sends every message here (about 1,600 a second): no per-address limit, or the
# limiter would be measured instead of the service. The per-conversation limit stays on
# (bench/flood_bench.py measures the limits themselves).
CONFIG = SETTINGS + """
[limits]
address_rate = 0
"""


# ----- machine and process plumbing -----------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_facts() -> dict[str, Any]:
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=5).stdout
        if commit and dirty.strip():
            commit += " (with uncommitted changes)"
    return {
        "cpu_model": cpu_model(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "aiohttp": aiohttp.__version__,
        "os": platform.platform(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
    }


def pick_cores() -> tuple[int, int, bool]:
    """(server core, load-generator core, separate?) from the cores this process may use."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) >= 2:
        return allowed[0], allowed[1], True
    return allowed[0], allowed[0], False


async def background_cpu(cores: list[int], seconds: float = 1.0) -> float:
    """How busy `cores` are with other work right now, in % of one core (before the bench loads them)."""
    before = sum(core_busy_seconds(c) for c in cores)
    mine = psutil.Process().cpu_times()
    await asyncio.sleep(seconds)
    after = sum(core_busy_seconds(c) for c in cores)
    now = psutil.Process().cpu_times()
    own = float((now.user + now.system) - (mine.user + mine.system))
    return max(0.0, 100 * (after - before - own) / seconds)


def server_env() -> dict[str, str]:
    """The caller's environment without SUPPORTBOT_* overrides, so only the bench config applies."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}


@dataclass
class Server(Child):
    base: str = ""
    workdir: Path = Path()
    startup_s: float = 0.0
    pinned_with: str = ""
    started_at: float = 0.0
    ready_s: float = float("nan")

    def rss_mb(self) -> float:
        return float(self.ps.memory_info().rss) / MB


async def start_server(
    session: aiohttp.ClientSession, workdir: Path, core: int, *, profile_to: Path | None = None, timeout: float = 60.0,
    settings: str = CONFIG,
    code: Path | None = None,
) -> Server:
    """Spawns `supportbot serve` pinned to `core` with `settings` (TOML); returns once /healthz has
    answered 200. `code`: run the supportbot of another checkout (first on PYTHONPATH) instead of
    this one, to compare versions."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "supportbot.toml"
    config.write_text(settings)
    port = free_port()
    args = ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
            "--store", f"sqlite:///{workdir / 'supportbot.db'}"]
    command = ([sys.executable, "-m", "bot.cli"] if code else supportbot_command(profile_to)) + args
    env = server_env() | ({"PYTHONPATH": str(code)} if code else {})
    taskset = shutil.which("taskset")
    if taskset:
        command = [taskset, "-c", str(core), *command]
    log = workdir / "server.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    if not taskset:
        ps.cpu_affinity([core])
    server = Server(
        proc, ps, log, base=base, workdir=workdir, pinned_with="taskset" if taskset else "psutil.cpu_affinity", started_at=started
    )
    server.startup_s = await wait_until_healthy(session, server, base, name="supportbot", started=started, timeout=timeout)
    return server


# ----- the HTTP customer ------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (completed at, seconds)
    opens: list[tuple[float, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    checked: int = 0
    check_failures: list[str] = field(default_factory=list)
    get_latencies: list[float] = field(default_factory=list)


READY_PROBE = (
    "Hi, I can't log in to my account. The error says \"Email not recognised\". I clicked Sign in, then typed my "
    "email and password. I'm using Chrome, my user ID is U104233 and my email is jo.smith@example.com."
)


async def probe_ready(session: aiohttp.ClientSession, server: Server) -> list[str]:
    """Right after /healthz: one customer's first message (every detail given, so the bot searches the
    help articles) until its 202, and its bot reply readable. Sets `server.ready_s` from the spawn."""
    stats = Stats()
    customer = Customer(session, server.base, stats)
    if await customer.open() and await customer.send(READY_PROBE):
        server.ready_s = time.perf_counter() - server.started_at
        await customer.check_reply(READY_PROBE)
    return stats.errors + stats.check_failures


class Customer:
    """One web chat customer: the conversation's id and token, and what it has sent."""

    def __init__(self, session: aiohttp.ClientSession, base: str, stats: Stats) -> None:
        self.session = session
        self.base = base
        self.stats = stats
        self.id = ""
        self.headers: dict[str, str] = {}
        self.seen_seq = 0

    async def open(self) -> bool:
        t0 = time.perf_counter()
        try:
            async with self.session.post(f"{self.base}/api/conversations", json={}) as resp:
                body = await resp.json()
                if resp.status != 201:
                    self.stats.errors.append(f"open conversation: HTTP {resp.status} {body}")
                    return False
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            self.stats.errors.append(f"open conversation: {exc!r}")
            return False
        t1 = time.perf_counter()
        self.stats.opens.append((t1, t1 - t0))
        self.id, self.headers = body["id"], {"Authorization": f"Bearer {body['token']}"}
        self.seen_seq = 0
        return True

    async def send(self, text: str) -> bool:
        t0 = time.perf_counter()
        try:
            async with self.session.post(
                f"{self.base}/api/conversations/{self.id}/messages", json={"text": text}, headers=self.headers
            ) as resp:
                body = await resp.read()
                if resp.status != 202:
                    self.stats.errors.append(f"message: HTTP {resp.status} {body[:200]!r}")
                    return False
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self.stats.errors.append(f"message: {exc!r}")
            return False
        t1 = time.perf_counter()
        self.stats.latencies.append((t1, t1 - t0))
        return True

    async def messages(self, after: int) -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        async with self.session.get(
            f"{self.base}/api/conversations/{self.id}/messages", params={"after": str(after)}, headers=self.headers
        ) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"GET messages: HTTP {resp.status} {body}")
        self.stats.get_latencies.append(time.perf_counter() - t0)
        result: list[dict[str, Any]] = body["messages"]
        return result

    async def check_reply(self, text: str) -> None:
        """Right after a 202: the message is stored and a newer bot reply is readable."""
        self.stats.checked += 1
        try:
            lines = await self.messages(self.seen_seq)
        except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError, ValueError) as exc:
            self.stats.check_failures.append(f"{self.id}: {exc!r}")
            return
        mine = [m for m in lines if m["from"] == "customer" and m["text"] == text.strip()]
        if not mine:
            self.stats.check_failures.append(f"{self.id}: the customer's message is not in the transcript")
            return
        seq = mine[-1]["seq"]
        if not any(m["from"] == "bot" and m["seq"] > seq for m in lines):
            self.stats.check_failures.append(f"{self.id}: no bot reply after seq {seq} ({text[:40]!r})")
        self.seen_seq = max(m["seq"] for m in lines)

    async def audit(self) -> tuple[int, list[str]]:
        """The whole transcript: every customer message is followed by a bot reply."""
        lines = await self.messages(0)
        problems, pending = [], None
        for m in lines:
            if m["from"] == "customer":
                if pending is not None:
                    problems.append(f"{self.id}: no bot reply to seq {pending['seq']} {pending['text'][:40]!r}")
                pending = m
            elif m["from"] == "bot":
                pending = None
        if pending is not None:
            problems.append(f"{self.id}: no bot reply to seq {pending['seq']} {pending['text'][:40]!r}")
        return sum(1 for m in lines if m["from"] == "customer"), problems


# ----- phases -----------------------------------------------------------------------------------


async def open_many(session: aiohttp.ClientSession, base: str, count: int, concurrency: int, script: CustomerScript) -> Stats:
    """`count` conversations, each opened and sent one problem description."""
    stats = Stats()
    todo = iter(range(count))

    async def worker() -> None:
        for _ in todo:
            customer = Customer(session, base, stats)
            if await customer.open():
                await customer.send(script.first_message())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return stats


async def settle_rss(server: Server, seconds: float = 1.5) -> float:
    """RSS once the server has been idle a moment (the dispatcher has drained the outbox)."""
    await asyncio.sleep(seconds)
    return server.rss_mb()


async def sustained(
    session: aiohttp.ClientSession, server: Server, *, concurrency: int, duration: float, ramp: float,
    check_every: int, script: CustomerScript, audit_sample: int,
) -> dict[str, Any]:
    """Closed-loop load: `concurrency` customers, each running journey after journey."""
    stats = Stats()
    stop_at = time.perf_counter() + ramp + duration
    conversations: list[Customer] = []
    sent = 0
    peak_rss = server.rss_mb()

    async def customer_loop() -> None:
        nonlocal sent
        while time.perf_counter() < stop_at:
            customer = Customer(session, server.base, stats)
            if not await customer.open():
                await asyncio.sleep(0.05)
                continue
            conversations.append(customer)
            for text in script.journey():
                if time.perf_counter() >= stop_at:
                    return
                if not await customer.send(text):
                    break
                sent += 1
                if check_every and sent % check_every == 0:
                    await customer.check_reply(text)

    async def sample_rss() -> None:
        nonlocal peak_rss
        while time.perf_counter() < stop_at:
            peak_rss = max(peak_rss, server.rss_mb())
            await asyncio.sleep(0.5)

    me = psutil.Process()
    window_start = time.perf_counter() + ramp
    cpu_server_0 = cpu_client_0 = 0.0

    server_core = server.ps.cpu_affinity()[0]
    client_core = sorted(me.cpu_affinity())[0]
    core_0 = client_core_0 = 0.0

    async def mark_window() -> None:
        nonlocal cpu_server_0, cpu_client_0, core_0, client_core_0
        await asyncio.sleep(ramp)
        cpu_server_0 = server.cpu_seconds()
        times = me.cpu_times()
        cpu_client_0 = times.user + times.system
        core_0 = core_busy_seconds(server_core)
        client_core_0 = core_busy_seconds(client_core)

    await asyncio.gather(mark_window(), sample_rss(), *(customer_loop() for _ in range(concurrency)))
    window_end = time.perf_counter()
    cpu_server = server.cpu_seconds() - cpu_server_0
    core_busy = core_busy_seconds(server_core) - core_0
    client_core_busy = core_busy_seconds(client_core) - client_core_0
    times = me.cpu_times()
    cpu_client = times.user + times.system - cpu_client_0
    window = window_end - window_start
    in_window = [lat for done, lat in stats.latencies if done >= window_start]
    opens = [lat for done, lat in stats.opens if done >= window_start]

    audited, audit_problems = 0, []
    step = max(1, len(conversations) // max(1, audit_sample))
    for customer in conversations[::step][:audit_sample]:
        try:
            count, problems = await customer.audit()
        except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError, ValueError) as exc:
            count, problems = 0, [f"{customer.id}: {exc!r}"]
        audited += count
        audit_problems.extend(problems)

    return {
        "concurrency": concurrency,
        "window_s": round(window, 2),
        "messages": len(in_window),
        "messages_per_s": len(in_window) / window,
        "p50_ms": percentile(in_window, 50) * 1000,
        "p90_ms": percentile(in_window, 90) * 1000,
        "p99_ms": percentile(in_window, 99) * 1000,
        "max_ms": max(in_window, default=float("nan")) * 1000,
        "conversations_opened": len(conversations),
        "open_p50_ms": percentile(opens, 50) * 1000,
        "open_p99_ms": percentile(opens, 99) * 1000,
        "errors": len(stats.errors),
        "error_examples": stats.errors[:5],
        "reply_checks": stats.checked,
        "reply_check_failures": len(stats.check_failures),
        "reply_check_examples": stats.check_failures[:5],
        "get_p50_ms": percentile(stats.get_latencies, 50) * 1000,
        "audited_conversations": min(len(conversations), audit_sample),
        "audited_customer_messages": audited,
        "audit_missing_replies": len(audit_problems),
        "audit_examples": audit_problems[:5],
        "server_cpu_pct_of_core": 100 * cpu_server / window,
        "loadgen_cpu_pct_of_core": 100 * cpu_client / window,
        "server_core_busy_pct": 100 * core_busy / window,
        "other_work_on_server_core_pct": max(0.0, 100 * (core_busy - cpu_server) / window),
        "other_work_on_loadgen_core_pct": max(0.0, 100 * (client_core_busy - cpu_client) / window)
        if client_core != server_core else 0.0,
        "peak_rss_mb": peak_rss,
    }


async def unloaded(session: aiohttp.ClientSession, server: Server, seconds: float, script: CustomerScript) -> dict[str, Any]:
    """One customer alone: the latency of a message with no queueing in front of it."""
    stats = Stats()
    stop_at = time.perf_counter() + seconds
    while time.perf_counter() < stop_at:
        customer = Customer(session, server.base, stats)
        if not await customer.open():
            break
        for text in script.journey():
            if not await customer.send(text):
                break
    values = [lat for _, lat in stats.latencies]
    return {
        "messages": len(values),
        "p50_ms": percentile(values, 50) * 1000,
        "p99_ms": percentile(values, 99) * 1000,
        "mean_ms": statistics.fmean(values) * 1000 if values else float("nan"),
        "errors": len(stats.errors),
    }


# ----- reporting --------------------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    s, m, load, one = results["startup"], results["memory"], results["load"], results["unloaded"]
    runs = ", ".join(f"{v:.2f}" for v in s["runs_s"])
    rows = [
        ("Start-up: spawn → first 200 from /healthz (worst of "
         f"{len(s['runs_s'])}: {runs} s)", f"{s['worst_s']:.2f} s", f"≤ {TARGETS['startup_s']:g} s",
         verdict(s["worst_s"] <= TARGETS["startup_s"])),
        ("Start-up: spawn → first customer message answered (202, bot reply readable; right after /healthz; "
         f"worst of {len(s['ready_runs_s'])}: " + ", ".join(f"{v:.2f}" for v in s["ready_runs_s"]) + " s)",
         f"{s['ready_worst_s']:.2f} s", f"≤ {TARGETS['startup_s']:g} s", verdict(s["ready_worst_s"] <= TARGETS["startup_s"])),
        ("Idle RSS after start-up (2 s after the first message)", f"{m['idle_rss_mb']:.1f} MB", f"≤ {TARGETS['idle_rss_mb']:g} MB",
         verdict(m["idle_rss_mb"] <= TARGETS["idle_rss_mb"])),
        (f"RSS growth per 1,000 conversations ({m['conversations']:,} opened, 1 message each: "
         f"{m['rss_before_mb']:.1f} → {m['rss_after_mb']:.1f} MB)", f"{m['growth_mb_per_1000']:.2f} MB",
         f"≤ {TARGETS['rss_growth_mb_per_1000']:g} MB", verdict(m["growth_mb_per_1000"] <= TARGETS["rss_growth_mb_per_1000"])),
        (f"Sustained customer messages/s ({load['concurrency']} customers, closed loop, {load['window_s']:.0f} s, "
         f"{load['messages']:,} messages)", f"{load['messages_per_s']:.0f} /s", "(reported)", "—"),
        ("Send → reply readable (POST latency), p50", f"{load['p50_ms']:.1f} ms", "(reported)", "—"),
        ("Send → reply readable (POST latency), p99", f"{load['p99_ms']:.1f} ms", f"≤ {TARGETS['p99_ms']:g} ms",
         verdict(load["p99_ms"] <= TARGETS["p99_ms"])),
        ("Bot reply readable via GET ?after= right after the 202 (sampled)",
         f"{load['reply_checks'] - load['reply_check_failures']}/{load['reply_checks']}", "all",
         verdict(load["reply_check_failures"] == 0 and load["reply_checks"] > 0)),
        (f"Transcript audit: a bot reply after every customer message ({load['audited_conversations']} conversations)",
         f"{load['audited_customer_messages'] - load['audit_missing_replies']}/{load['audited_customer_messages']}",
         "all", verdict(load["audit_missing_replies"] == 0)),
        ("HTTP errors (all phases)", str(results["errors"]), "0", verdict(results["errors"] == 0)),
    ]
    info = [
        ("One customer alone (no queueing), p50 / p99",
         f"{one['p50_ms']:.1f} / {one['p99_ms']:.1f} ms ({one['messages']} messages)"),
        ("Open conversation (POST /api/conversations) under load, p50 / p99",
         f"{load['open_p50_ms']:.1f} / {load['open_p99_ms']:.1f} ms ({load['conversations_opened']:,} opened)"),
        ("POST latency under load, p90 / max", f"{load['p90_ms']:.1f} / {load['max_ms']:.1f} ms"),
        ("Server CPU during load (share of its one core)", f"{load['server_cpu_pct_of_core']:.0f} %"),
        ("Load generator CPU (share of its core)", f"{load['loadgen_cpu_pct_of_core']:.0f} %"),
        ("Peak RSS during load", f"{load['peak_rss_mb']:.1f} MB"),
        ("Other processes during load on the server's / load generator's core (noise)",
         f"{load['other_work_on_server_core_pct']:.0f} % / {load['other_work_on_loadgen_core_pct']:.0f} % (before the "
         f"run: {results['noise']['other_cpu_pct_before']:.0f} % of a core, load average "
         f"{results['noise']['load_average_before'][0]:.2f})"),
        ("Server pinned to / load generator on", f"core {results['cores']['server']} ({results['cores']['pinned_with']}) / "
         f"core {results['cores']['loadgen']}"),
    ]
    lines = ["| Measure | Measured | Target | Result |", "|---|---:|---:|:---:|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += ["", "| Also measured | |", "|---|---:|"]
    lines += [f"| {a} | {b} |" for a, b in info]
    return "\n".join(lines)


def machine_block(facts: dict[str, Any]) -> str:
    return (
        f"- CPU: {facts['cpu_model']}, {facts['logical_cores']} logical cores "
        f"({facts['physical_cores']} physical), {facts['memory_gb']} GB RAM\n"
        f"- Python {facts['python']}, SQLite {facts['sqlite']}, aiohttp {facts['aiohttp']}, {facts['os']}\n"
        f"- Date: {facts['date']}; code: {facts['commit'] or 'unknown commit'}"
    )


def write_readme(block: str) -> None:
    text = README.read_text() if README.exists() else "# Benchmarks\n\n"
    section = f"{START_MARK}\n{block}\n{END_MARK}"
    if START_MARK in text and END_MARK in text:
        head, _, rest = text.partition(START_MARK)
        _, _, tail = rest.partition(END_MARK)
        text = head + section + tail
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    README.write_text(text)


def reproduce_command(argv: list[str]) -> str:
    if not argv:
        return f"cd {ROOT} && make bench"
    return f"cd {ROOT} && .venv/bin/python -m bench {' '.join(argv)}"


# ----- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, default=32, help="concurrent customers in the sustained phase (32)")
    p.add_argument("--duration", type=float, default=25.0, help="measured seconds of the sustained phase (25)")
    p.add_argument("--ramp", type=float, default=2.0, help="seconds of load before measuring starts (2)")
    p.add_argument("--conversations", type=int, default=3000, help="conversations opened for the memory figure (3000)")
    p.add_argument("--warmup", type=int, default=300, help="conversations opened before the memory baseline (300)")
    p.add_argument("--startups", type=int, default=3, help="start-up measurements, fresh server each (3)")
    p.add_argument("--check-every", type=int, default=20, help="verify every Nth message with GET ?after= (20)")
    p.add_argument("--audit", type=int, default=150, help="conversations whose whole transcript is audited (150)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--profile", action="store_true", default=bool(os.environ.get("BENCH_PROFILE")),
                   help="run the server under cProfile (all threads) for a sustained phase only and print its top "
                        "functions; also BENCH_PROFILE=1")
    p.add_argument("--no-readme", action="store_true", help="don't rewrite the results block of bench/README.md")
    return p.parse_args(argv)


async def run(args: argparse.Namespace, argv: list[str]) -> int:
    server_core, client_core, separate = pick_cores()
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {client_core})
    try:
        return await _run(args, argv, server_core, client_core, separate)
    finally:
        os.sched_setaffinity(0, affinity)  # the benches after this one (bench/__main__.py) pick their own cores


async def _run(args: argparse.Namespace, argv: list[str], server_core: int, client_core: int, separate: bool) -> int:
    facts = machine_facts()
    script = CustomerScript(args.seed)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    connector = aiohttp.TCPConnector(limit=args.concurrency + 8, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    with tempfile.TemporaryDirectory(prefix="supportbot-bench-") as tmp:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            if args.profile:
                return await run_profile(session, Path(tmp), server_core, args, script)
            print(f"supportbot web chat bench: server on core {server_core}, load generator on core {client_core}"
                  + ("" if separate else " (only one core available: they share it)"), flush=True)
            cores = sorted({server_core, client_core})
            background = await background_cpu(cores)
            load_avg = os.getloadavg()
            print(f"  other work on cores {cores} before the run: {background:.0f} % of a core "
                  f"(load average {load_avg[0]:.2f})", flush=True)
            if background > NOISY_PCT:
                print("  WARNING: the machine is busy with other work; the figures may be pessimistic", flush=True)
            startups: list[float] = []
            readies: list[float] = []
            probe_errors: list[str] = []
            server: Server | None = None
            for n in range(args.startups):
                if server is not None:
                    server.stop()
                server = await start_server(session, Path(tmp) / f"run{n}", server_core)
                probe_errors += await probe_ready(session, server)
                startups.append(server.startup_s)
                readies.append(server.ready_s)
                print(f"  start-up {n + 1}: /healthz 200 after {server.startup_s:.2f} s, first message answered after "
                      f"{server.ready_s:.2f} s", flush=True)
            assert server is not None
            try:
                affinity = server.ps.cpu_affinity()
                idle = await settle_rss(server, 2.0)
                print(f"  idle RSS {idle:.1f} MB; warming up with {args.warmup} conversations", flush=True)
                warm = await open_many(session, server.base, args.warmup, args.concurrency, script)
                before = await settle_rss(server)
                t0 = time.perf_counter()
                grow = await open_many(session, server.base, args.conversations, args.concurrency, script)
                opened_in = time.perf_counter() - t0
                after = await settle_rss(server)
                growth = (after - before) / args.conversations * 1000
                print(f"  {args.conversations} conversations in {opened_in:.1f} s: RSS {before:.1f} → {after:.1f} MB "
                      f"({growth:.2f} MB per 1,000)", flush=True)
                one = await unloaded(session, server, 4.0, script)
                print(f"  one customer alone: p50 {one['p50_ms']:.1f} ms, p99 {one['p99_ms']:.1f} ms", flush=True)
                print(f"  sustained load: {args.concurrency} customers for {args.ramp:g} + {args.duration:g} s", flush=True)
                load = await sustained(session, server, concurrency=args.concurrency, duration=args.duration,
                                       ramp=args.ramp, check_every=args.check_every, script=script,
                                       audit_sample=args.audit)
                final_rss = server.rss_mb()
            finally:
                exit_code = server.stop()
            errors = probe_errors + warm.errors + grow.errors
            results = {
                "benchmark": "webchat",
                "machine": facts,
                "command": reproduce_command(argv),
                "settings": {k: v for k, v in vars(args).items() if k not in ("profile", "no_readme")},
                "cores": {"server": server_core, "loadgen": client_core, "separate": separate,
                          "pinned_with": server.pinned_with, "server_affinity": affinity},
                "targets": TARGETS,
                "noise": {"other_cpu_pct_before": background, "load_average_before": load_avg,
                          "other_work_on_server_core_pct": load["other_work_on_server_core_pct"],
                          "other_work_on_loadgen_core_pct": load["other_work_on_loadgen_core_pct"]},
                "startup": {"runs_s": startups, "median_s": statistics.median(startups), "worst_s": max(startups),
                            "ready_runs_s": readies, "ready_worst_s": max(readies)},
                "memory": {
                    "idle_rss_mb": idle, "warmup_conversations": args.warmup, "conversations": args.conversations,
                    "rss_before_mb": before, "rss_after_mb": after, "growth_mb_per_1000": growth,
                    "seconds_to_open": opened_in, "rss_after_load_mb": final_rss,
                },
                "unloaded": one,
                "load": load,
                "errors": len(errors) + load["errors"] + one["errors"],
                "error_examples": (errors + load["error_examples"])[:5],
                "server_exit_code": exit_code,
            }
            if results["errors"] or exit_code != 0:
                results["server_log_tail"] = server.log_tail(40)
    results["pass"] = {
        "startup": results["startup"]["worst_s"] <= TARGETS["startup_s"],
        "ready": results["startup"]["ready_worst_s"] <= TARGETS["startup_s"],
        "idle_rss": idle <= TARGETS["idle_rss_mb"],
        "rss_growth": growth <= TARGETS["rss_growth_mb_per_1000"],
        "p99": load["p99_ms"] <= TARGETS["p99_ms"],
        "replies": load["reply_check_failures"] == 0 and load["audit_missing_replies"] == 0,
        "errors": results["errors"] == 0,
    }
    noisy = max(background, load["other_work_on_server_core_pct"], load["other_work_on_loadgen_core_pct"]) > NOISY_PCT
    results["noise"]["disturbed"] = noisy
    (RESULTS_DIR / "webchat.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    rendered = table(results)
    block = (
        f"Measured {facts['date']} with `{results['command']}`:\n\n{rendered}\n\nMachine:\n\n{machine_block(facts)}"
    )
    warning = ""
    if noisy:
        server_noise, client_noise = load["other_work_on_server_core_pct"], load["other_work_on_loadgen_core_pct"]
        effect = []
        if max(background, server_noise) > NOISY_PCT:
            effect.append("the server shared its core, so start-up, throughput and latency are pessimistic")
        if client_noise > NOISY_PCT:
            effect.append("the load generator shared its core, so its latency timings may include scheduling delay")
        warning = (f"Other processes were busy during the run ({background:.0f} % of a core before it; during the load "
                   f"{server_noise:.0f} % of the server's core and {client_noise:.0f} % of the load generator's): "
                   + "; ".join(effect) + ". Rerun on a quiet machine for clean figures.")
        block += f"\n\n**{warning}**"
    print()
    print(rendered)
    print()
    print(machine_block(facts))
    if warning:
        print(f"\nWARNING: {warning}")
    for example in results["error_examples"] + load["reply_check_examples"] + load["audit_examples"]:
        print(f"  problem: {example}")
    if not args.no_readme:
        write_readme(block)
        print(f"\nwrote {RESULTS_DIR / 'webchat.json'} and the results block of {README}")
    else:
        print(f"\nwrote {RESULTS_DIR / 'webchat.json'}")
    return 0 if all(results["pass"].values()) else 1


async def run_profile(
    session: aiohttp.ClientSession, tmp: Path, core: int, args: argparse.Namespace, script: CustomerScript
) -> int:
    prof = RESULTS_DIR / "webchat-server.prof"
    server = await start_server(session, tmp / "profile", core, profile_to=prof)
    fill = args.warmup + args.conversations
    print(f"profiling: server (under cProfile, all threads) started in {server.startup_s:.2f} s; {fill} conversations "
          f"to fill the store as in a full run, then {args.concurrency} customers for {args.duration:g} s", flush=True)
    try:
        await open_many(session, server.base, fill, args.concurrency, script)
        load = await sustained(session, server, concurrency=args.concurrency, duration=args.duration, ramp=args.ramp,
                               check_every=0, script=script, audit_sample=0)
    finally:
        server.stop()
    print(f"under the profiler (slower than unprofiled): {load['messages_per_s']:.0f} messages/s, p50 {load['p50_ms']:.1f} ms, "
          f"p99 {load['p99_ms']:.1f} ms, errors {load['errors']}")
    if not prof.exists():
        print(f"no profile written; server log:\n{server.log_tail()}")
        return 1
    stats = pstats.Stats(str(prof))
    print("All threads together; 'poll' of epoll and a thread pool's SimpleQueue 'get' are idle waits.")
    stats.sort_stats("tottime").print_stats(25)
    print("The project's own functions by cumulative time:")
    stats.sort_stats("cumulative").print_stats(r"/(bot|adapters|knowledge)/", 30)
    print(f"profile saved to {prof} (open with python -m pstats)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    return asyncio.run(run(args, argv))


if __name__ == "__main__":
    sys.exit(main())
