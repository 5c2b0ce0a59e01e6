"""Small synthetic point-cloud datasets for loader tests (the writer lives in the package so
`evenet bench loader` uses the same one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from evenet.data.synthetic import write_synthetic_dataset
from evenet.io.manifest import load_manifest, shard_entries

# vjets mixes processes 24 and 7 (event by event), as a converted sample may
SAMPLES = {"ttbar_dilepton": 1, "wjets": 24, "vjets": (24, 7)}
CLASS_MAP = {1: 0, 24: 1}  # process 7 has no class: dropped whenever labels are on


def write_dataset(folder: Path, events: int = 6000, **options) -> Path:
    """3 samples x 2 shards x 3 row groups of ~333 events; event numbers 0..events-1."""
    options = {
        "samples": SAMPLES,
        "shard_events": 1000,
        "row_group_events": 334,
        "class_map": CLASS_MAP,
        **options,
    }
    return write_synthetic_dataset(folder, events, **options)


def truth(manifest: Path) -> dict[str, np.ndarray]:
    """event, split and process of every event, read straight from the shards."""
    columns = {"event": [], "split": [], "process": []}
    for entry in shard_entries(load_manifest(manifest), manifest):
        table = pq.read_table(entry.path, columns=list(columns))
        for name in columns:
            columns[name].append(table.column(name).to_numpy())
    return {name: np.concatenate(parts) for name, parts in columns.items()}
