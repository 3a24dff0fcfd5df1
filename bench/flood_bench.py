"""Flood benchmark: can one client flooding the public customer API starve another customer?

A victim customer (source address 127.0.0.1) sends its journeys' messages one at a time, with a
short pause after each reply as a person would, and its send→reply latency (POST → 202, the reply
committed and readable) is measured alone, then while a flood runs: 50 clients from another
loopback address (127.0.0.2, so per-address limits apply to them alone) in a closed loop, each
opening conversation after conversation and sending messages as fast as the server answers,
ignoring 429s and their Retry-After as an abusive script would. The flood runs in a process of its
own, niced, so the victim's timings do not wait on the flood's client code (as if it ran on
another machine). All of it three times, against a fresh server each time: rate limits off
(`[limits]` rates 0: "before"), on with refusals answered at once (`refusal_delay = "0s"`), and on
with the defaults ("after"). Server pinned to one core, victim and flood to another, as in
bench/webchat_load.py.

Target: with limits on, the victim's p50 under the flood stays within 2× its unloaded p50.

`python -m bench.flood_bench` (part of `make bench`); results in bench/results/flood.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import percentile, verdict
from bench.customers import CustomerScript
from bench.webchat_load import READY_PROBE, RESULTS_DIR, SETTINGS, Server, machine_facts, pick_cores, start_server

TARGET_RATIO = 2.0
FLOOD_SOURCE = "127.0.0.2"
LIMITS = {  # [limits] for each run, in order
    "off": "\n[limits]\naddress_rate = 0\nconversation_rate = 0\nstaff_rate = 0\n",
    "at once": '\n[limits]\nrefusal_delay = "0s"\n',
    "on": "",  # the defaults
}
HEADINGS = {"off": "limits off (before)", "at once": "limits on, 429 at once", "on": "limits on, defaults (after)"}


# ----- the victim --------------------------------------------------------------------------------


async def victim(session: aiohttp.ClientSession, base: str, seconds: float, pause: float, script: CustomerScript) -> dict[str, Any]:
    """One customer's journeys for `seconds`: each message's send → 202 latency; anything but a
    201/202 is an error (the victim stays well inside every limit)."""
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds
    while time.perf_counter() < stop_at:
        async with session.post(f"{base}/api/conversations", json={}) as response:
            if response.status != 201:
                errors.append(f"open: HTTP {response.status}")
                await asyncio.sleep(pause)
                continue
            opened = await response.json()
        headers = {"Authorization": f"Bearer {opened['token']}"}
        for text in script.journey():
            if time.perf_counter() >= stop_at:
                break
            started = time.perf_counter()
            async with session.post(f"{base}/api/conversations/{opened['id']}/messages", json={"text": text}, headers=headers) as response:
                await response.read()
                if response.status == 202:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors.append(f"message: HTTP {response.status}")
            await asyncio.sleep(pause)
    return {
        "messages": len(latencies),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "errors": len(errors),
        "error_examples": errors[:3],
    }


# ----- the flood (its own process: `python -m bench.flood_bench --flood BASE`) ---------------------


async def flood(base: str, seconds: float, concurrency: int, seed: int) -> dict[str, Any]:
    """`concurrency` closed-loop clients from FLOOD_SOURCE: open a conversation, send its journey,
    again; a refusal is simply followed by the next request."""
    script = CustomerScript(seed)
    statuses: dict[str, int] = {}
    stop_at = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(local_addr=(FLOOD_SOURCE, 0), limit=concurrency)

    async def client(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < stop_at:
            async with session.post(f"{base}/api/conversations", json={}) as response:
                statuses[f"open {response.status}"] = statuses.get(f"open {response.status}", 0) + 1
                if response.status != 201:
                    continue
                opened = await response.json()
            headers = {"Authorization": f"Bearer {opened['token']}"}
            for text in script.journey():
                if time.perf_counter() >= stop_at:
                    return
                async with session.post(f"{base}/api/conversations/{opened['id']}/messages", json={"text": text}, headers=headers) as response:
                    await response.read()
                    statuses[f"message {response.status}"] = statuses.get(f"message {response.status}", 0) + 1

    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        return {"seconds": time.perf_counter() - started, "statuses": statuses}


def start_flood(base: str, seconds: float, concurrency: int, seed: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bench.flood_bench", "--flood", base, "--seconds", str(seconds),
               "--concurrency", str(concurrency), "--seed", str(seed)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent)


# ----- one server: alone, then under the flood ------------------------------------------------------


async def measure(
    session: aiohttp.ClientSession, workdir: Path, core: int, limits: str, args: argparse.Namespace, script: CustomerScript
) -> dict[str, Any]:
    server: Server = await start_server(session, workdir, core, settings=SETTINGS + LIMITS[limits])
    try:
        async with session.post(f"{server.base}/api/conversations", json={}) as response:  # the index loads: wait for it
            opened = await response.json()
        async with session.post(f"{server.base}/api/conversations/{opened['id']}/messages", json={"text": READY_PROBE},
                                headers={"Authorization": f"Bearer {opened['token']}"}) as response:
            assert response.status == 202, response.status
        await victim(session, server.base, 2.0, args.pause, script)  # warm-up
        alone = await victim(session, server.base, args.duration, args.pause, script)
        flooder = start_flood(server.base, args.ramp + args.duration + 1.0, args.concurrency, args.seed)
        await asyncio.sleep(args.ramp)
        cpu_0, t_0 = server.cpu_seconds(), time.perf_counter()
        flooded = await victim(session, server.base, args.duration, args.pause, script)
        server_cpu = 100 * (server.cpu_seconds() - cpu_0) / (time.perf_counter() - t_0)
        out, _ = await asyncio.to_thread(flooder.communicate)
        crowd = json.loads(out)
    finally:
        server.stop()
    statuses, window = crowd["statuses"], crowd["seconds"]
    handled = sum(n for key, n in statuses.items() if key.endswith((" 201", " 202")))
    refused = sum(n for key, n in statuses.items() if key.endswith(" 429"))
    return {
        "limits": limits,
        "alone": alone,
        "flooded": flooded,
        "ratio": flooded["p50_ms"] / alone["p50_ms"],
        "flood": {"statuses": statuses, "handled_per_s": handled / window, "refused_per_s": refused / window},
        "server_cpu_pct_during_flood": server_cpu,
    }


def table(runs: dict[str, dict[str, Any]], concurrency: int) -> str:
    def row(label: str, cell: Any) -> str:
        return f"| {label} | " + " | ".join(cell(runs[mode]) for mode in LIMITS) + " |"

    def latency(part: dict[str, Any]) -> str:
        return f"{part['p50_ms']:.1f} / {part['p99_ms']:.1f} ms ({part['messages']})"

    def ratio(run: dict[str, Any]) -> str:
        judged = run["limits"] == "on"
        text = f"{run['ratio']:.1f}×"
        return f"**{text}** (target ≤ {TARGET_RATIO:g}×: {verdict(run['ratio'] <= TARGET_RATIO)})" if judged else text

    return "\n".join([
        "| | " + " | ".join(HEADINGS[mode] for mode in LIMITS) + " |",
        "|---|" + "---:|" * len(LIMITS),
        row("Victim alone, p50 / p99 (messages)", lambda run: latency(run["alone"])),
        row(f"Victim under a {concurrency}-way flood, p50 / p99 (messages)", lambda run: latency(run["flooded"])),
        row("Flooded p50 ÷ alone p50", ratio),
        row("Flood: requests handled (201/202) per s", lambda run: f"{run['flood']['handled_per_s']:,.0f}"),
        row("Flood: requests refused (429) per s", lambda run: f"{run['flood']['refused_per_s']:,.0f}"),
        row("Server CPU during the flood (share of its core)", lambda run: f"{run['server_cpu_pct_during_flood']:.0f} %"),
        row("Victim errors (alone + flooded)", lambda run: str(run["alone"]["errors"] + run["flooded"]["errors"])),
    ])


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.flood_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, default=50, help="flooding clients (50)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds the victim is measured, alone and flooded (10)")
    p.add_argument("--ramp", type=float, default=2.0, help="seconds of flood before the victim is measured (2)")
    p.add_argument("--pause", type=float, default=0.05, help="the victim's pause after each reply, seconds (0.05)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--flood", metavar="BASE", help=argparse.SUPPRESS)  # the flood process itself
    p.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    server_core, client_core, _ = pick_cores()
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {client_core})  # the flood process inherits it
    script = CustomerScript(args.seed)
    runs: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="supportbot-flood-") as tmp:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
                for limits in LIMITS:
                    print(f"flood bench, {HEADINGS[limits]}: victim alone {args.duration:g} s, then under a "
                          f"{args.concurrency}-way flood from {FLOOD_SOURCE}", flush=True)
                    runs[limits] = await measure(session, Path(tmp) / limits, server_core, limits, args, script)
    finally:
        os.sched_setaffinity(0, affinity)
    rendered = table(runs, args.concurrency)
    print()
    print(rendered)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    results = {"benchmark": "flood", "machine": machine_facts(), "settings": vars(args), "cores": [server_core, client_core], "runs": runs}
    (RESULTS_DIR / "flood.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwrote {RESULTS_DIR / 'flood.json'}")
    victim_errors = sum(runs["on"][part]["errors"] for part in ("alone", "flooded"))
    return 0 if runs["on"]["ratio"] <= TARGET_RATIO and victim_errors == 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.flood:
        os.nice(19)  # the victim shares this core: its timings must not wait for the flood's client code
        print(json.dumps(asyncio.run(flood(args.flood, args.seconds, args.concurrency, args.seed))))
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
