"""`evenet bench generate` and `evenet bench convert`: the first two stages against their
libraries' own speed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from evenet.bench.common import Clock, device_description


def bench_generate(process, n_events: int, seed: int, config: dict, lhe=None) -> dict:
    """Full generation stage vs. plain Pythia on the same events (same seed, same hook).

    ``pythia_events_per_s`` is Pythia with nextBatch (the event record as awkward arrays, as
    the stage gets it); ``pythia_next_events_per_s`` Pythia's bare next() loop.
    """
    from evenet.generation.generate import generate_shard
    from evenet.generation.pythia_driver import build_pythia

    gen = config["generation"]
    # Warm-up on another seed (first-use costs of awkward/vector/fastjet), then the timed runs.
    # Rates exclude initialisation (the same in both) and count events only.
    generate_shard_warmup(process, seed + 1, config, lhe)
    run = build_pythia(process, seed, gen["pythia_settings"], lhe=lhe)
    with Clock() as pythia_clock:
        pythia_events = sum(len(b) for b in run.batches(n_events, gen["batch_size"]))
    # The same events once more with next(): Pythia without building the awkward record.
    run = build_pythia(process, seed, gen["pythia_settings"], lhe=lhe)
    with Clock() as next_clock:
        next_events = sum(bool(run.pythia.next()) for _ in range(n_events))
    with tempfile.TemporaryDirectory(prefix="evenet-bench-") as tmp:
        output = Path(tmp) / "bench.root"
        with Clock() as full_clock:
            summary = generate_shard(
                process, n_events, seed, output, config, lhe=lhe, progress=False
            )
        size = output.stat().st_size
    wall = pythia_clock.wall + next_clock.wall + full_clock.wall
    full_seconds = summary.seconds - summary.init_seconds
    pythia_rate = pythia_events / pythia_clock.wall
    return {
        "bench": "generate",
        "device": device_description(),
        "process": process.name,
        "events": summary.events,
        "events_per_s": summary.events / full_seconds,
        "pythia_events_per_s": pythia_rate,
        # Extra time of detector + truth + matching + writing relative to Pythia's own time,
        # both clocked inside the same run (immune to run-to-run speed drift) ...
        "overhead_fraction": (full_seconds - summary.pythia_seconds) / summary.pythia_seconds,
        # ... and against the separate plain-Pythia run (includes that drift).
        "overhead_fraction_vs_plain": pythia_rate * full_seconds / summary.events - 1.0,
        "seconds_full": full_seconds,
        "seconds_pythia": pythia_clock.wall,
        "seconds_pythia_in_full": summary.pythia_seconds,
        "seconds_init": summary.init_seconds,
        "bytes_per_event": size / summary.events,
        "pythia_next_events_per_s": next_events / next_clock.wall,
        "cpu_per_wall": (pythia_clock.cpu + next_clock.cpu + full_clock.cpu) / wall,
    }


def bench_convert(inputs: list[Path], config: dict) -> dict:
    """Conversion of ``inputs`` (one sample) into a temporary folder; rates per wall and CPU s."""
    from evenet.io.convert import convert_sample

    with tempfile.TemporaryDirectory(prefix="evenet-bench-") as tmp:
        with Clock() as clock:
            manifest = convert_sample(
                inputs, Path(tmp) / "sample", "bench", config, log=lambda _: None
            )
        size = sum(p.stat().st_size for p in (Path(tmp) / "sample").iterdir())
    events = manifest["samples"]["bench"]["events"]
    return {
        "bench": "convert",
        "device": device_description(),
        "events": events,
        "files": len(inputs),
        "events_per_s": events / clock.wall,
        "events_per_s_per_core": events / clock.cpu,
        "seconds": clock.wall,
        "bytes_per_event": size / events,
        "cpu_per_wall": clock.cpu / clock.wall,
    }


def generate_shard_warmup(process, seed: int, config: dict, lhe) -> None:
    from evenet.generation.generate import generate_shard

    with tempfile.TemporaryDirectory(prefix="evenet-bench-") as tmp:
        generate_shard(
            process, 20, seed, Path(tmp) / "warmup.root", config, lhe=lhe, progress=False
        )
