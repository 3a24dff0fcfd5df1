"""Child of bench/wal_bench.py: sustained commits through the real SQLiteStore, timing each one.

Run as a script with a checkout first on PYTHONPATH, so the store measured is that checkout's
(this file imports nothing from bench/, which an older checkout may not have):
`PYTHONPATH=DIR python bench/wal_commits.py STORE.db SECONDS`. Prints one JSON object.

Each commit is one group transaction of four units, as the runtime writes a group of events: a
platform delivery recorded, a conversation created, the delivery marked done. Between commits
the loop spends `WORK_S` of CPU on other things, as the server does on HTTP and the engine, so
the checkpointer thread competes with a busy event loop for the one core, as in the server.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from bot.domain import Conversation
from bot.store.sqlite import SQLiteStore

UNITS = 4
WORK_S = 0.0005
SAMPLE_EVERY_S = 0.25
PAYLOAD = {"type": "message", "text": "I can't log in to my account, the error says Email not recognised. " * 6}


def spin(seconds: float) -> None:
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


async def run(path: Path, seconds: float) -> dict[str, object]:
    store = SQLiteStore(path)
    await store.open()
    wal = path.with_name(path.name + "-wal")
    latencies: list[float] = []
    samples: list[tuple[float, int, int]] = []
    n = 0
    start = next_sample = time.perf_counter()
    try:
        while (now := time.perf_counter()) - start < seconds:
            if now >= next_sample:
                samples.append((round(now - start, 2), wal.stat().st_size if wal.exists() else 0, path.stat().st_size))
                next_sample += SAMPLE_EVERY_S
            t0 = time.perf_counter()
            async with store.transaction():
                for _ in range(UNITS):
                    n += 1
                    async with store.savepoint():
                        await store.accept_inbound("bench", f"e{n}", PAYLOAD, now=now)
                        await store.create_conversation(Conversation(f"web:{n}", "web", created_at=now), secret_hash="h")
                        await store.finish_inbound("bench", f"e{n}", now=now)
            latencies.append(time.perf_counter() - t0)
            spin(WORK_S)
            await asyncio.sleep(0)
    finally:
        await store.close()
    return {"commits": len(latencies), "units": n, "seconds": seconds, "latencies_s": latencies, "samples": samples}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(Path(sys.argv[1]), float(sys.argv[2])))))
