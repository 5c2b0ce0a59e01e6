"""Synthetic point-cloud datasets (shards + manifest) for loader tests and benchmarks.

Values are random but shaped like real conversions (zero-padded objects, targets), with two
exact handles for tests: ``event`` is the event's index in the whole dataset and
x[:, 0, 0] == globals[:, 0] == event (float32: exact below 2**24 events).
Files are written one row group at a time, so memory does not grow with ``events``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from evenet.catalogue import load_catalogue, manifest_record
from evenet.io.manifest import Manifest, file_record
from evenet.io.schema import (
    N_OBJECTS,
    TARGET_COLUMNS,
    Shapes,
    arrow_schema,
    columns_description,
)
from evenet.io.shards import to_table

DEFAULT_SAMPLES = {"ttbar_dilepton": 1, "wjets": 5}


def topology_shapes() -> Shapes:
    """The caps R, D, P of config/topologies.yaml, as converted datasets have them."""
    from evenet.io.topologies import load_topologies

    topologies = load_topologies()
    return Shapes(topologies.resonances, topologies.daughters, topologies.partons)


def write_synthetic_dataset(
    folder: str | Path,
    events: int,
    *,
    samples: dict[str, int | tuple[int, ...]] | None = None,
    shard_events: int = 100_000,
    row_group_events: int = 10_000,
    with_targets: bool = True,
    class_map: dict[int, int] | None = None,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    shapes: Shapes | None = None,
    seed: int = 0,
) -> Path:
    """Write ``events`` events split evenly over ``samples`` {name: process id or ids (taken
    in turn)}; return the manifest path. Sample k holds the events [k·n, (k+1)·n)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    samples = DEFAULT_SAMPLES if samples is None else samples
    shapes = topology_shapes() if shapes is None else shapes
    schema = arrow_schema(shapes, with_targets)
    rng = np.random.default_rng(seed)
    bounds = np.linspace(0, events, len(samples) + 1).astype(np.int64)
    shards, counts, sample_info = [], {}, {}
    for k, (sample, process) in enumerate(samples.items()):
        first, last = int(bounds[k]), int(bounds[k + 1])
        process = np.atleast_1d(np.array(process, dtype=np.int32))
        sample_info[sample] = {
            "process": sorted({int(p) for p in process}),
            "xsec_pb": 1.0,
            "sum_weights": float(last - first),
            "events": last - first,
            "has_targets": with_targets,
        }
        for number, start in enumerate(range(first, last, shard_events)):
            stop = min(last, start + shard_events)
            path = folder / f"{sample}_{number:04d}.parquet"
            groups = []
            # as evenet.io.shards: zstd, dictionary encoding for the sample name only
            with pq.ParquetWriter(
                path, schema, compression="zstd", use_dictionary=["sample"]
            ) as writer:
                for begin in range(start, stop, row_group_events):
                    end = min(stop, begin + row_group_events)
                    columns = _columns(rng, begin, end, process, number, shapes, fractions)
                    writer.write_table(
                        to_table(columns, schema, sample), row_group_size=end - begin
                    )
                    splits = np.bincount(columns["split"], minlength=3).tolist()
                    groups.append({"rows": end - begin, "splits": splits})
                    for pid in np.unique(columns["process"]):
                        mine = columns["split"][columns["process"] == pid]
                        totals = counts.setdefault(str(pid), [0, 0, 0])
                        totals[:] = np.add(totals, np.bincount(mine, minlength=3)).tolist()
            shards.append(
                {
                    "path": path.name,
                    "sample": sample,
                    "rows": stop - start,
                    **file_record(path),
                    "row_groups": groups,
                }
            )
    manifest = Manifest(
        kind="dataset",
        name="synthetic",
        columns=columns_description(shapes, with_targets),
        shapes={"R": shapes.resonances, "D": shapes.daughters, "P": shapes.partons, "K": 0},
        has_targets=with_targets,
        target_columns=list(TARGET_COLUMNS) if with_targets else [],
        topologies=[{"id": 1, "name": "synthetic", "processes": []}],
        processes=manifest_record(load_catalogue()),
        samples=sample_info,
        shards=shards,
        counts=dict(sorted(counts.items(), key=lambda item: int(item[0]))),
        conversion={"synthetic": True},
        config_hash="synthetic",
        code_version="synthetic",
    )
    if class_map is not None:
        manifest.class_map = {str(p): c for p, c in class_map.items()}
        manifest.classes = [f"class{c}" for c in sorted(set(class_map.values()))]
    return manifest.write(folder)


def _columns(rng, begin, end, process, run, shapes, fractions) -> dict[str, np.ndarray]:
    n = end - begin
    event = np.arange(begin, end, dtype=np.int64)
    objects = rng.integers(2, N_OBJECTS + 1, size=n)
    mask = np.arange(N_OBJECTS) < objects[:, None]
    x = rng.standard_normal((n, N_OBJECTS, 7), dtype=np.float32) * mask[..., None]
    x[:, 0, 0] = event
    glob = rng.standard_normal((n, 10), dtype=np.float32)
    glob[:, 0] = event
    columns = {
        "run": np.full(n, run, dtype=np.int64),
        "event": event,
        "split": rng.choice(3, size=n, p=fractions).astype(np.int8),
        "x": x,
        "x_mask": mask,
        "globals": glob,
        "process": process[event % len(process)],
        "weight": rng.choice(np.array([-1.0, 1.0], np.float32), size=n, p=[0.1, 0.9]),
        "topology": rng.integers(-1, 2, size=n).astype(np.int16),
        "assignment": rng.integers(
            -1, N_OBJECTS, size=(n, shapes.resonances, shapes.daughters)
        ).astype(np.int16),
        "segmentation": rng.integers(-1, shapes.resonances, size=(n, N_OBJECTS)).astype(np.int8),
        "neutrinos": rng.standard_normal((n, 2, 3), dtype=np.float32),
        "neutrinos_mask": rng.random((n, 2)) < 0.5,
        "partons": rng.standard_normal((n, shapes.partons, 4), dtype=np.float32),
        "partons_mask": rng.random((n, shapes.partons)) < 0.6,
    }
    return columns
