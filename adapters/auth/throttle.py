"""Failed sign-ins counted per account and per client address, so guessing passwords is slow.

Only failures count: a person who signs in at once is never held back, and someone who mistypes
twice is not either. Past `limit` failures within `window`, that key is refused until its oldest
failure leaves the window. Time comes from the service's clock, so tests move a fake one.
"""

from __future__ import annotations

from collections import deque

from bot.clock import Clock

MAX_KEYS = 100_000  # distinct accounts and addresses remembered; the oldest are dropped past it


class FailureThrottle:
    def __init__(self, *, limit: int, window: float, clock: Clock) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> float:
        """Seconds before `key` may try again; 0 when it may now."""
        failures = self._recent(key)
        if failures is None or len(failures) < self.limit:
            return 0.0
        return max(1.0, failures[0] + self.window - self.clock.now())

    def failed(self, key: str) -> None:
        failures = self._recent(key)
        if failures is None:
            if len(self._failures) >= MAX_KEYS:
                self._failures.pop(next(iter(self._failures)))
            failures = self._failures[key] = deque(maxlen=max(1, self.limit))
        failures.append(self.clock.now())

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        cutoff = self.clock.now() - self.window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures
