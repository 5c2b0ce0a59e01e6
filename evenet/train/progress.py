"""The progress of a training run: one metrics.csv row and one log line per logged step, with
the event rate, the loader stall (time spent waiting for batches) and an ETA."""

from __future__ import annotations

import time
from collections.abc import Callable

from evenet.train.metrics import MetricsLog


class Progress:
    def __init__(self, log_file: MetricsLog | None, steps: int, log: Callable[[str], None]):
        self.metrics, self.steps, self.log = log_file, steps, log
        self.start = self.last = time.perf_counter()
        self.events = 0  # since the last logged step (this process)
        self.waited = self.waited_total = 0.0  # seconds waiting for the loader

    def batch(self, events: int, waited: float) -> None:
        self.events += events
        self.waited += waited

    def record(self, row: dict, total: float, world_size: int) -> None:
        """Write the row of a logged step (``row``: step, epoch, lr, losses, ...)."""
        now = time.perf_counter()
        elapsed = max(now - self.last, 1e-9)
        rate = self.events * world_size / elapsed
        step = row["step"]
        self.metrics.write(
            {**row, "events_per_s": rate, "loader_stall_fraction": self.waited / elapsed}
        )
        eta = (self.steps - step) * (now - self.start) / max(step, 1)
        self.log(
            f"[train] step {step}/{self.steps} loss {total:.4f} "
            f"{rate:.0f} events/s, ETA {eta / 60:.1f} min"
        )
        self.events, self.last = 0, now
        self.waited_total, self.waited = self.waited_total + self.waited, 0.0

    def stall_fraction(self) -> float:
        seconds = time.perf_counter() - self.start
        return (self.waited_total + self.waited) / max(seconds, 1e-9)
