"""`evenet bench sample`: generated events per second of `evenet sample` on this machine.

Without a checkpoint it builds the dimuon analysis's generator at the chosen preset (global
generation of pT_ll, dR_ll given M_ll, then the two muons with iso and ip3d given all three)
with random weights: the cost of sampling does not depend on the weights. The timed part is
the whole command (model load, both denoising chains, point-cloud assembly, the write).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from evenet.bench.common import Clock, device_description


def _dimuon_generator(preset_name: str, folder: Path) -> Path:
    """A checkpoint of the dimuon generator (random weights, neutral statistics)."""
    import torch

    from evenet.io.schema import GLOBAL_EXTRA_FEATURES
    from evenet.model.checkpoint import checkpoint_payload, save_checkpoint
    from evenet.model.config import preset
    from evenet.model.model import EveNet
    from evenet.model.normalize import neutral_stats

    stats = neutral_stats()
    stats["x_extra"] = {"features": ["iso", "ip3d"], "mean": [0.0, 0.0], "std": [1.0, 1.0]}
    names = list(GLOBAL_EXTRA_FEATURES)
    stats["globals_extra"] = {"features": names, "mean": [0.0] * 3, "std": [1.0] * 3}
    config = preset(preset_name, tasks=("global_generation", "object_generation"))
    heads = replace(
        config.heads,
        global_condition=("M_ll",),
        global_generate=("pT_ll", "dR_ll"),
        object_condition=tuple(names),
    )
    config = replace(config, heads=heads, x_extra=("iso", "ip3d"), globals_extra=tuple(names))
    torch.manual_seed(0)
    model = EveNet(config, stats, [])
    return save_checkpoint(folder / "generator.pt", checkpoint_payload(model, stats=stats))


def bench_sample(
    *,
    preset: str = "tiny",
    checkpoint: str | None = None,
    conditions: str | None = None,
    events: int = 20_000,
    steps: int = 25,
    batch_size: int = 4096,
) -> dict:
    from evenet.sampling.sample import sample_events

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        built_in = checkpoint is None
        model = f"dimuon generator (random weights), preset {preset}" if built_in else checkpoint
        if built_in:
            checkpoint = _dimuon_generator(preset, folder)
            conditions = folder / "conditions.parquet"
            mass = np.random.default_rng(0).uniform(5.0, 16.0, events)
            pq.write_table(pa.table({"M_ll": mass}), conditions)
        rows = pq.read_metadata(conditions).num_rows
        with Clock() as clock:
            sample_events(
                checkpoint,
                conditions,
                folder / "generated.parquet",
                seed=1,
                steps=steps,
                batch_size=batch_size,
                log=lambda line: None,
            )
    return {
        "bench": "sample",
        "device": device_description(),
        "model": str(model),
        "events": rows,
        "steps": steps,
        "batch_size": batch_size,
        "wall_s": round(clock.wall, 3),
        "cpu_per_wall": round(clock.cpu / max(clock.wall, 1e-9), 2),
        "events_per_s": round(rows / max(clock.wall, 1e-9), 1),
    }
