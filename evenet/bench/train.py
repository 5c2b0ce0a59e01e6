"""`evenet bench train`: throughput of the real training loop (loader, model, optimizer)."""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import torch

from evenet.bench.common import device_description


def _synthetic_dataset(folder: Path, events: int) -> Path:
    """A synthetic dataset with the real topologies, a 3-class map and its stats.json."""
    from evenet.data.synthetic import write_synthetic_dataset
    from evenet.io.manifest import load_manifest, write_json_atomic
    from evenet.io.stats import write_stats
    from evenet.io.topologies import load_topologies

    manifest_file = write_synthetic_dataset(
        folder,
        events,
        samples={"ttbar_dilepton": 1, "haa_4b_ma30": 2, "qcd_bb_pthat40": 24},
        class_map={1: 0, 2: 1, 5: 2},
        shard_events=max(events // 3, 1),
    )
    manifest = load_manifest(manifest_file)
    manifest["topologies"] = load_topologies().summary()
    write_json_atomic(manifest_file, manifest)
    write_stats(folder)
    return folder


def _steady_state(metrics_csv: Path, after_step: int, batch_size: int) -> tuple[float, float]:
    """(events/s, loader stall fraction) over the logged intervals after ``after_step``,
    weighted by each interval's duration (warm-up and compilation excluded)."""
    import csv

    with open(metrics_csv, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if int(r["step"]) > after_step]
    if not rows:
        raise ValueError(f"{metrics_csv}: no logged step after the warm-up step {after_step}")
    events = seconds = stalled = 0.0
    previous = after_step
    for row in rows:
        step, rate = int(row["step"]), float(row["events_per_s"])
        interval_events = (step - previous) * batch_size
        interval_seconds = interval_events / rate
        events += interval_events
        seconds += interval_seconds
        stalled += float(row["loader_stall_fraction"]) * interval_seconds
        previous = step
    return events / seconds, stalled / seconds


def bench_train(
    preset: str,
    *,
    dataset: str | None = None,
    steps: int = 30,
    warmup: int = 5,
    batch_size: int = 256,
    num_workers: int = 2,
    finetune: bool = False,
    events: int = 30000,
    bf16: bool | None = None,
    compile: bool = False,
    compile_mode: str = "default",
) -> dict:
    """Rate of the real training loop over ``steps`` steps after ``warmup`` untimed ones."""
    from evenet.bench.model import body_flops_per_copy, utilisation
    from evenet.train.options import TrainOptions
    from evenet.train.paths import RunPaths
    from evenet.train.trainer import build_model, dataset_inputs, train

    tasks = ("classification", "assignment") if finetune else None
    # Log every `warmup` steps, so the first interval is exactly the warm-up.
    total = warmup + -(-steps // warmup) * warmup
    values = {
        "preset": preset,
        "steps": total,
        "stage1_steps": 0,
        "batch_size": batch_size,
        "num_workers": num_workers,
        "warmup_steps": 1,
        "log_every": warmup,
        "checkpoint_every": total,
        "bf16": bf16,
        "compile": compile,
        "compile_mode": compile_mode,
    }
    if tasks:
        values["tasks"] = tasks
    options = TrainOptions.from_dict(values)
    with tempfile.TemporaryDirectory(prefix="evenet-bench-train-") as tmp:
        location = Path(dataset) if dataset else _synthetic_dataset(Path(tmp) / "ds", events)
        manifest, stats = dataset_inputs(location)
        torch.manual_seed(options.seed)
        model = build_model(options, manifest, stats)
        flops_per_copy = body_flops_per_copy(model)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        train(location, Path(tmp) / "run", options, model=model, log=lambda _: None)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        events_per_s, stall = _steady_state(RunPaths(Path(tmp) / "run").metrics, warmup, batch_size)
    cuda = torch.cuda.is_available()
    copies = 1 if finetune else 2  # pretraining encodes a clean and a noised copy
    achieved_tflops, mfu = utilisation(
        flops_per_copy, copies, events_per_s, "cuda" if cuda else "cpu"
    )
    return {
        "bench": "train",
        "device": f"cuda: {torch.cuda.get_device_name()}" if cuda else device_description(),
        "preset": preset,
        "mode": "finetune" if finetune else "pretrain",
        "steps": total - warmup,
        "warmup_steps": warmup,
        "batch_size": batch_size,
        "loader_workers": num_workers,
        "bf16": cuda if bf16 is None else bf16,
        "compile": compile,
        "compile_mode": compile_mode if compile else None,
        "steps_per_s": events_per_s / batch_size,
        "events_per_s": events_per_s,
        "loader_stall_fraction": stall,
        "body_gflops_per_copy": flops_per_copy / 1e9,
        "achieved_tflops": achieved_tflops,
        "mfu": mfu,
        "peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "seconds": wall,
        # the training process only (loader workers are separate processes)
        "cpu_per_wall": cpu / wall,
    }
