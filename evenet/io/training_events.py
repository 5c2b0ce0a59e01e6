"""The training, validation and test events of a fine-tuning run, for methods that are not
EveNet (XGBoost, SPANet): every method of an analysis trains on identical events.

Given the same fine-tuning options (``evenet.job_options.finetune``: its ``events`` list and
stratification, ``train_events`` size, ``mix`` and ``weighting``), this selects the same events
(``evenet.io.selection``: the list's non-test events, nested size subsets by a fixed hash),
with the same per-event training weights (``evenet.train.weights``), as rule finetune gives
EveNet. The test events are the listed events of the parent dataset's test split, which is
what an analysis evaluates every method on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from evenet.errors import EvenetError
from evenet.io.event_keys import keys, locate
from evenet.io.manifest import load_manifest
from evenet.io.predictions import dataset_shards, dataset_table


def validation_mask(table: pa.Table, val_fraction: float) -> np.ndarray:
    """Per event of ``table`` (sample, run, event): whether a fine-tuning with ``events:
    {val_fraction: F}`` validates on it (the re-split hash of evenet.io.selection)."""
    from evenet.io.predictions import event_hash_uniform
    from evenet.io.selection import VAL_SALT

    return event_hash_uniform(table, VAL_SALT) < val_fraction


class TrainingEventsError(EvenetError, ValueError):
    """The options do not describe a training set of this dataset."""


@dataclass
class TrainingEvents:
    """Tables with ``sample, run, event, split, process, weight``, the requested columns,
    ``label`` (class index) and (train and val) ``train_weight``."""

    train: pa.Table
    val: pa.Table
    classes: list[str]
    dataset: Path  # the selected dataset the tables come from


def _labelled(table: pa.Table, class_map: Mapping[str, int]) -> pa.Table:
    process = table["process"].to_numpy()
    lookup = {int(k): int(v) for k, v in class_map.items()}
    label = np.array([lookup.get(int(p), -1) for p in process], dtype=np.int64)
    keep = label >= 0
    return table.filter(pa.array(keep)).append_column("label", pa.array(label[keep]))


def _weighted(table: pa.Table, factors: Mapping[int, float]) -> pa.Table:
    process = table["process"].to_numpy()
    factor = np.array([factors.get(int(p), 0.0) for p in process], dtype=np.float64)
    weight = table["weight"].to_numpy().astype(np.float64) * factor
    return table.append_column("train_weight", pa.array(weight))


def training_events(
    dataset: str | os.PathLike,
    options: Mapping[str, Any],
    events_path: str | os.PathLike,
    workdir: str | os.PathLike,
    columns: Sequence[str] = ("x", "x_mask"),
    log=print,
) -> TrainingEvents:
    """The run's train and val events from fine-tuning ``options`` (``events`` and
    ``training``, as evenet.job_options.finetune writes them) and the event list at
    ``events_path``; the selected dataset is written to (or reused from) ``workdir``/selected."""
    from evenet.io.selection import Selection, ensure_selected
    from evenet.train.weights import process_factors

    training = options.get("training") or {}
    events = options.get("events")
    if not events:
        raise TrainingEventsError(
            "the run has no `events` list: methods outside EveNet train on selected events only"
        )
    if not Path(events_path).is_file():
        raise TrainingEventsError(f"the event list {events_path} does not exist")
    size = int(training.get("train_events") or 0) or None
    selection = Selection(
        Path(events_path), size, events.get("stratify"), events.get("val_fraction")
    )
    selected = ensure_selected(dataset, selection, Path(workdir) / "selected", log=log)
    manifest = load_manifest(selected)
    factors = process_factors(
        selected, training.get("mix") or None, training.get("weighting", "events")
    )
    tables = {}
    for split in ("train", "val"):
        table = dataset_table(selected, [*columns, "process", "weight"], [split])
        tables[split] = _weighted(_labelled(table, manifest.get("class_map") or {}), factors)
    return TrainingEvents(tables["train"], tables["val"], list(manifest["classes"]), selected)


def listed_test_events(
    dataset: str | os.PathLike, events: str | os.PathLike, columns: Sequence[str] = ()
) -> pa.Table:
    """The listed events (Parquet: sample, run, event) of ``dataset``'s test split, in the
    dataset's order, with ``process``, ``weight`` and ``columns``."""
    import pyarrow.parquet as pq

    if not Path(events).is_file():
        raise TrainingEventsError(f"the event list {events} does not exist")
    listed = keys(pq.read_table(events, columns=["sample", "run", "event"]))
    parts = []  # shard by shard: only the listed rows are kept in memory
    for table in dataset_shards(dataset, [*columns, "process", "weight"], ["test"]):
        parts.append(table.filter(pa.array(locate(listed, keys(table)) >= 0)))
    if not parts:
        return dataset_table(dataset, [*columns, "process", "weight"], ["test"])
    return pa.concat_tables(parts, promote_options="permissive").unify_dictionaries()


def rows_of(table: pa.Table, wanted: pa.Table) -> np.ndarray:
    """For each event (sample, run, event) of ``wanted``, its row in ``table`` (-1: absent)."""
    return locate(keys(table), keys(wanted))
