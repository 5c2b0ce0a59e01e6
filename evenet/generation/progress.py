"""Progress lines for long runs: events done, rate, ETA, at most every few seconds."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int, every_s: float = 10.0, stream=None, enabled=True):
        self.label, self.total, self.every_s = label, total, every_s
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.start = time.perf_counter()
        self._last = self.start
        self.done = 0

    def update(self, done: int, force: bool = False) -> None:
        self.done = done
        now = time.perf_counter()
        if not self.enabled or (not force and now - self._last < self.every_s):
            return
        self._last = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        print(
            f"[{self.label}] {done}/{self.total} events, {rate:.1f} ev/s, "
            f"elapsed {elapsed:.0f} s, ETA {eta:.0f} s",
            file=self.stream,
            flush=True,
        )
