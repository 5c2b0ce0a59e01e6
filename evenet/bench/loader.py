"""`evenet bench loader`: events per second delivered as tensors through the DataLoader."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from evenet.bench.common import device_description
from evenet.data.loader import make_loader
from evenet.data.synthetic import write_synthetic_dataset


class _ProcessTree:
    """Samples the RSS of this process plus its children (the loader workers) in a thread.

    RSS is summed over processes, so pages they share (the torch libraries of forked workers,
    batches in shared memory) count once per process: an upper bound of the footprint.
    """

    def __init__(self, interval_s: float = 0.1):
        import psutil  # only the benchmark needs it

        self.root, self.interval_s, self.peak = psutil.Process(), interval_s, 0
        self._errors = (psutil.NoSuchProcess, psutil.AccessDenied)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _each(self, measure) -> dict[int, float]:
        out = {}
        for process in [self.root, *self.root.children(recursive=True)]:
            try:
                out[process.pid] = measure(process)
            except self._errors:  # a worker that just exited
                pass
        return out

    def cpu_seconds(self) -> dict[int, float]:
        return self._each(lambda p: sum(p.cpu_times()[:2]))  # user + system

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(self._each(lambda p: p.memory_info().rss).values()))
            self._stop.wait(self.interval_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def bench_loader(
    location: str | os.PathLike | None = None,
    *,
    events: int = 200_000,
    workers: int = 2,
    batch_size: int = 1024,
    split: str = "train",
) -> dict:
    """Time one epoch of ``split`` (shuffled for train) after a warm-up of a tenth of another.

    Without ``location`` a synthetic dataset of ``events`` events (with targets) is written to
    a temporary folder first, untimed. ``events`` in the result is the dataset's size,
    ``events_per_epoch`` what one rank delivers of ``split``.
    """
    if location is None:
        with tempfile.TemporaryDirectory(prefix="evenet-bench-loader-") as folder:
            # in a child process: the writer's heap must not count as the loader's memory
            with ProcessPoolExecutor(max_workers=1) as pool:
                pool.submit(write_synthetic_dataset, folder, events).result()
            return _run(Path(folder), workers, batch_size, split)
    return _run(Path(location), workers, batch_size, split)


def _run(location: Path, workers: int, batch_size: int, split: str) -> dict:
    loader = make_loader(location, num_workers=workers, batch_size=batch_size, split=split)
    with _ProcessTree() as tree:
        for count, _ in enumerate(loader, start=1):  # warm-up: worker start, first reads
            if count >= max(1, len(loader) // 10):
                break
        loader.set_epoch(1)
        cpu_before, start = tree.cpu_seconds(), time.perf_counter()
        delivered = sum(len(batch["x"]) for batch in loader)
        wall = time.perf_counter() - start
        cpu_after = tree.cpu_seconds()
    cpu = sum(seconds - cpu_before.get(pid, 0.0) for pid, seconds in cpu_after.items())
    return {
        "bench": "loader",
        "device": device_description(),
        "events": loader.dataset.total_events,
        "events_per_epoch": delivered,
        "events_per_s": delivered / wall,
        "peak_rss_mb": tree.peak / 2**20,
        "cpu_per_wall": cpu / wall,
        "seconds": wall,
        "workers": workers,
        "batch_size": batch_size,
        "split": split,
    }
