"""What the benchmarks share: ports, CPU accounting, percentiles, and the child server processes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

BENCH = Path(__file__).resolve().parent


def slack_app_parser(prog: str) -> argparse.ArgumentParser:
    """The options every Slack baseline app takes from bench/slack_load.py: where to listen and the
    fake Web API to post to (the secrets come from SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET)."""
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--api-url", required=True, help="the (fake) Slack Web API base URL, with trailing slash")
    return p


def core_busy_seconds(core: int) -> float:
    """Non-idle CPU seconds of one core since boot (all processes)."""
    times = psutil.cpu_times(percpu=True)[core]
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def supportbot_command(profile_to: Path | None) -> list[str]:
    """`supportbot serve`'s command line, or the same under cProfile on every thread."""
    if profile_to is not None:
        return [sys.executable, str(BENCH / "profiled_server.py"), str(profile_to)]
    script = Path(sys.executable).parent / "supportbot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


@dataclass
class Child:
    """A server process the bench started: its CPU use, its log, and a graceful stop."""

    proc: subprocess.Popen[bytes]
    ps: psutil.Process
    log: Path

    def cpu_seconds(self) -> float:
        """CPU of the process and all its threads."""
        with contextlib.suppress(psutil.Error):
            times = self.ps.cpu_times()
            return float(times.user + times.system)
        return 0.0

    def stop(self) -> int | None:
        """SIGINT (aiohttp's graceful shutdown, and what makes cProfile write its file), then kill."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def log_tail(self, lines: int = 25) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


async def wait_until_healthy(
    session: aiohttp.ClientSession, child: Child, base: str, *, name: str, started: float, timeout: float
) -> float:
    """Seconds from `started` (a perf_counter reading) to the first 200 from GET /healthz; a child
    that exits or stays unhealthy past `timeout` is stopped and reported with its log's tail."""
    probe = aiohttp.ClientTimeout(total=2)
    while True:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {child.proc.returncode} during start-up:\n{child.log_tail()}")
        if time.perf_counter() - started > timeout:
            child.stop()
            raise RuntimeError(f"{name}: no 200 from /healthz within {timeout:.0f} s:\n{child.log_tail()}")
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
            async with session.get(f"{base}/healthz", timeout=probe) as resp:
                await resp.read()
                if resp.status == 200:
                    return time.perf_counter() - started
        await asyncio.sleep(0.005)
