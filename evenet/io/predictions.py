"""Predictions joined to their events: the one way analyses read model outputs and dataset
columns together.

A prediction file (``evenet predict``) holds one row per event of the predicted splits with
``sample, run, event, split, process, weight``, the head outputs, and its provenance as JSON
under the schema metadata key ``evenet.prediction`` (checkpoint and dataset-manifest sha256).
``load`` joins it to the dataset's columns on (sample, run, event), whatever the row order of
either, and refuses a prediction made on another version of the dataset. ``to_numpy`` turns a
column of the result (tensor, fixed-size list or scalar) into one (n, *shape) numpy array.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from evenet.errors import EvenetError
from evenet.io.columns import to_numpy  # noqa: F401 (re-exported: analyses read columns with it)
from evenet.io.event_keys import DuplicateEventError, keys, locate  # noqa: F401 (re-exported)
from evenet.io.manifest import load_manifest, manifest_path, sha256_file, shard_entries
from evenet.io.schema import SPLITS

METADATA_KEY = b"evenet.prediction"
KEY_COLUMNS = ("sample", "run", "event")
ID_COLUMNS = (*KEY_COLUMNS, "split", "process", "weight")


class PredictionError(EvenetError, ValueError):
    """Predictions cannot be used as asked: other dataset version, missing events, bad split."""


def extra_feature_names(dataset: str | os.PathLike) -> tuple[list[str], list[str]]:
    """The names of a dataset's x_extra and globals_extra columns (possibly empty)."""
    manifest = load_manifest(dataset)
    return list(manifest.get("x_extra") or []), list(manifest.get("globals_extra") or [])


def event_hash_uniform(table: pa.Table, salt: int) -> np.ndarray:
    """A fixed number in [0, 1) per event of ``table`` (sample, run, event) for the stream
    ``salt``: orders or splits events reproducibly, independent of the dataset's split."""
    from evenet.io.split import event_uniform

    sample, run, event = keys(table)
    return event_uniform(sample, run, event, salt)


def generated_metadata(table: pa.Table) -> dict | None:
    """The provenance `evenet sample` stored in its output (checkpoint, conditions, and the
    names of the x_extra and globals_extra columns); None for any other file."""
    from evenet.sampling.sample import METADATA_KEY as SAMPLE_KEY

    raw = (table.schema.metadata or {}).get(SAMPLE_KEY)
    return None if raw is None else json.loads(raw)


def manifest_checksum(dataset: str | os.PathLike) -> str:
    """sha256 of a dataset's manifest.json: the dataset version a prediction was made on."""
    return sha256_file(manifest_path(dataset))


def metadata(prediction: str | os.PathLike) -> dict:
    """The provenance stored in a prediction file."""
    raw = (pq.read_schema(prediction).metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise PredictionError(f"{prediction} is not an evenet prediction file (no provenance)")
    return json.loads(raw)


def _split_indices(splits: Iterable[str] | None) -> list[int]:
    names = list(SPLITS) if splits is None else list(splits)
    unknown = [s for s in names if s not in SPLITS]
    if unknown:
        raise PredictionError(f"unknown split(s) {unknown}; splits are {list(SPLITS)}")
    return [SPLITS[s] for s in names]


def dataset_shards(
    dataset: str | os.PathLike, columns: Sequence[str] = (), splits: Iterable[str] | None = None
) -> Iterator[pa.Table]:
    """What ``dataset_table`` returns, one shard at a time (memory bounded by a shard: for
    datasets too large to hold, e.g. a selection over 10⁸ events)."""
    manifest = load_manifest(dataset)
    known = {c["name"] for c in manifest.get("columns", [])} | set(ID_COLUMNS)
    missing = [c for c in columns if c not in known]
    if missing:
        raise PredictionError(
            f"dataset {dataset} has no column(s) {missing} (it has: {', '.join(sorted(known))})"
        )
    wanted = list(dict.fromkeys([*KEY_COLUMNS, "split", *columns]))
    codes = pa.array(_split_indices(splits), type=pa.int8())
    for shard in shard_entries(manifest, dataset):
        table = pq.read_table(shard.path, columns=wanted)
        yield table.filter(pc.is_in(table["split"], value_set=codes))


def dataset_table(
    dataset: str | os.PathLike, columns: Sequence[str] = (), splits: Iterable[str] | None = None
) -> pa.Table:
    """``sample, run, event, split`` and ``columns`` of a dataset's events in ``splits`` (default
    all), in file order: shards as the manifest lists them, rows as stored."""
    tables = list(dataset_shards(dataset, columns, splits))
    if not tables:
        return pa.schema([]).empty_table()
    return pa.concat_tables(tables, promote_options="permissive").unify_dictionaries()


def _positions(dataset: pa.Table, prediction: pa.Table) -> np.ndarray:
    """Row of ``dataset`` holding each row of ``prediction`` (same sample, run, event)."""
    try:
        rows = locate(keys(dataset), keys(prediction))
    except DuplicateEventError as error:
        raise PredictionError(f"the dataset is inconsistent: {error}") from None
    if (rows < 0).any():
        sample, run, event = keys(prediction)
        i = int(np.flatnonzero(rows < 0)[0])
        raise PredictionError(
            f"{int((rows < 0).sum())} predicted event(s) are not in the dataset's requested "
            f"splits, e.g. sample {sample[i]!r} run {run[i]} event {event[i]}"
        )
    return rows


def load(
    prediction: str | os.PathLike | None,
    dataset: str | os.PathLike,
    columns: Sequence[str] = (),
    splits: Iterable[str] | None = None,
) -> pa.Table:
    """Prediction columns with the dataset ``columns`` (``x``, ``x_mask``, ``globals``,
    ``x_extra``, targets, ...) of the same events, aligned on (sample, run, event).

    Rows follow the prediction file (restricted to ``splits``, default: all it holds). With
    ``prediction=None`` the dataset's columns alone (for exporting events). Raises
    PredictionError for a prediction made on another version of the dataset (manifest
    checksum) and for a predicted event the dataset does not hold.
    """
    if prediction is None:
        return dataset_table(dataset, columns, splits)
    provenance = metadata(prediction)
    made_on, now = provenance.get("manifest_sha256"), manifest_checksum(dataset)
    if made_on != now:
        raise PredictionError(
            f"{prediction} was made on another version of {dataset} (manifest sha256 "
            f"{str(made_on)[:12]}..., now {now[:12]}...): rerun the prediction"
        )
    table = pq.read_table(prediction)
    if splits is not None:
        codes = pa.array(_split_indices(splits), type=pa.int8())
        table = table.filter(pc.is_in(table["split"], value_set=codes))
    present = [s for s, i in SPLITS.items() if i in set(pc.unique(table["split"]).to_pylist())]
    extra = [c for c in columns if c not in table.column_names]
    events = dataset_table(dataset, extra, present)
    rows = pa.array(_positions(events, table))
    for name in extra:
        table = table.append_column(name, events[name].take(rows))
    return table
