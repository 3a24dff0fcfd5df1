"""`supportbot` under cProfile on every thread: the event loop and the SQLite store's worker.

`python -m cProfile` sees only the main thread, and the store does its work on its own thread,
so this wrapper gives each thread a profiler and merges them when the server exits (SIGINT).
Used by `python -m bench --profile`; run as a script so the server's working directory
doesn't matter:

    python bench/profiled_server.py OUT.prof serve --config ... --port ...
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading

_profilers: list[cProfile.Profile] = []
_original_run = threading.Thread.run


def _profiled_run(self: threading.Thread) -> None:
    profiler = cProfile.Profile()
    _profilers.append(profiler)
    profiler.enable()
    try:
        _original_run(self)
    finally:
        profiler.disable()


def main() -> int:
    out, argv = sys.argv[1], sys.argv[2:]
    threading.Thread.run = _profiled_run  # type: ignore[method-assign]
    from bot.cli import main as supportbot

    profiler = cProfile.Profile()
    _profilers.insert(0, profiler)
    profiler.enable()
    try:
        code = supportbot(argv)
    finally:
        profiler.disable()
        stats = pstats.Stats(_profilers[0])
        for other in _profilers[1:]:
            try:
                stats.add(other)
            except TypeError:  # a thread that never ran any Python code: nothing to add
                pass
        stats.dump_stats(out)
    return code


if __name__ == "__main__":
    sys.exit(main())
