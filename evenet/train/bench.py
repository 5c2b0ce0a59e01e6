"""`evenet bench train`: throughput of the real training loop (loader, model, optimizer)."""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import torch

from evenet.bench import device_description


def _synthetic_dataset(folder: Path, events: int) -> Path:
    """A synthetic dataset with the real topologies, a 3-class map and its stats.json."""
    from evenet.data.synthetic import write_synthetic_dataset
    from evenet.io.manifest import load_manifest, write_json_atomic
    from evenet.io.stats import write_stats
    from evenet.io.topologies import load_topologies

    manifest_file = write_synthetic_dataset(
        folder,
        events,
        samples={"ttbar_dilepton": 1, "haa_4b_ma30": 2, "qcd_multib": 5},
        class_map={1: 0, 2: 1, 5: 2},
        shard_events=max(events // 3, 1),
    )
    manifest = load_manifest(manifest_file)
    manifest["topologies"] = load_topologies().summary()
    write_json_atomic(manifest_file, manifest)
    write_stats(folder)
    return folder


def bench_train(
    preset: str,
    *,
    dataset: str | None = None,
    steps: int = 30,
    batch_size: int = 256,
    num_workers: int = 2,
    finetune: bool = False,
    events: int = 30000,
) -> dict:
    from evenet.train.options import TrainOptions
    from evenet.train.trainer import train

    tasks = ("classification", "assignment") if finetune else None
    values = {
        "preset": preset,
        "steps": steps,
        "stage1_steps": 0,
        "batch_size": batch_size,
        "num_workers": num_workers,
        "warmup_steps": 1,
        "log_every": steps,
        "checkpoint_every": steps,
    }
    if tasks:
        values["tasks"] = tasks
    options = TrainOptions.from_dict(values)
    with tempfile.TemporaryDirectory(prefix="evenet-bench-train-") as tmp:
        location = Path(dataset) if dataset else _synthetic_dataset(Path(tmp) / "ds", events)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        summary = train(location, Path(tmp) / "run", options, log=lambda _: None)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    cuda = torch.cuda.is_available()
    return {
        "bench": "train",
        "device": f"cuda: {torch.cuda.get_device_name()}" if cuda else device_description(),
        "preset": preset,
        "mode": "finetune" if finetune else "pretrain",
        "steps": steps,
        "batch_size": batch_size,
        "loader_workers": num_workers,
        "steps_per_s": steps / summary["seconds"],
        "events_per_s": steps * batch_size / summary["seconds"],
        "loader_stall_fraction": summary["loader_stall_fraction"],
        "peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "seconds": summary["seconds"],
        # the training process only (loader workers are separate processes)
        "cpu_per_wall": cpu / wall,
    }
