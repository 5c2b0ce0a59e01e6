"""Fine-tuning on the events an analysis selected: a dataset of just those events.

An analysis rule writes a Parquet list of (sample, run, event); a run with ``events:`` then
fine-tunes and validates on these events only (DESIGN.md "Analyses"). They are copied, with
every column, into a small dataset folder beside the run, so the whole loader and trainer
apply unchanged:

* test events stay out: predictions run on the parent dataset, whose test split is untouched
  (``include_test`` lets them in, for an analysis that evaluates on its own folds; it needs
  ``val_fraction``, which then re-splits them too);
* ``val_fraction`` re-splits the remaining events into train/val by a fixed hash of
  (sample, run, event) (independent of the split's own hash);
* ``size`` keeps the first N training events in another fixed hash order, so the subsets of
  a size scan are nested (every event of the 10⁴ run is in the 10⁵ run);
* ``stratify: {class or sample: fraction}`` fixes the shares of train and val exactly (e.g.
  10% signal, or a third of it per signal sample); events not named share the rest in their
  natural proportion.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from evenet.errors import EvenetError
from evenet.io.event_keys import DuplicateEventError, keys, locate
from evenet.io.manifest import (
    MANIFEST_NAME,
    Manifest,
    load_manifest,
    manifest_path,
    sha256_file,
    shard_entries,
)
from evenet.io.schema import SPLITS
from evenet.io.shards import write_shard
from evenet.io.split import event_uniform
from evenet.io.temporaries import remove_stale
from evenet.io.temporaries import temporary as temporary_name

SUBSET_SALT = 0x5EB5E7  # event_uniform stream ordering the nested training subsets
VAL_SALT = 0x7A1  # event_uniform stream of the train/val re-split
TRAIN, VAL, TEST = SPLITS["train"], SPLITS["val"], SPLITS["test"]


class SelectionError(EvenetError, ValueError):
    """The event list or the selection settings cannot be used with this dataset."""


@dataclass(frozen=True)
class Selection:
    events: Path  # Parquet with columns sample, run, event
    size: int | None = None  # training events (None: all selected)
    stratify: Mapping[str, float] | None = None  # class or sample name -> exact share
    val_fraction: float | None = None  # re-split train/val (None: keep the dataset's split)
    include_test: bool = False  # test-split events train and validate too (needs val_fraction)

    def record(self, dataset: str | os.PathLike) -> dict:
        """What the selected dataset was made from (reused only when this is unchanged)."""
        values = asdict(self)
        values["events"] = str(self.events)
        values["events_sha256"] = sha256_file(self.events)
        values["parent_manifest_sha256"] = sha256_file(manifest_path(dataset))
        return json.loads(json.dumps(values))


def ensure_selected(
    dataset: str | os.PathLike,
    selection: Selection,
    output: str | os.PathLike,
    log: Callable[[str], None] = print,
) -> Path:
    """The selected dataset in ``output``: reused when made from the same list, settings and
    parent dataset, rebuilt otherwise. Returns its folder."""
    output = Path(output)
    record = selection.record(dataset)
    existing = output / MANIFEST_NAME
    if existing.is_file() and json.loads(existing.read_text()).get("selection") == record:
        log(f"[select] reusing {output} (same events, settings and dataset)")
        return output
    select_events(dataset, selection, output, log=log)
    return output


def select_events(
    dataset: str | os.PathLike,
    selection: Selection,
    output: str | os.PathLike,
    log: Callable[[str], None] = print,
) -> dict:
    """Write the dataset of the listed events (see the module doc) to ``output``, atomically,
    with its own stats.json. Returns its manifest."""
    from evenet.io.stats import write_stats

    output = Path(output)
    parent = load_manifest(dataset)
    listed = _read_list(selection.events)
    entries = shard_entries(parent, dataset)
    found = _find(entries, listed, selection.events, dataset)
    names = list(parent.get("classes") or [])
    label = _labels(found["process"], parent.get("class_map") or {})
    if selection.include_test and selection.val_fraction is None:
        raise SelectionError("include_test needs val_fraction: test-split events need a re-split")
    in_test = found["split"] == TEST
    considered = np.ones(len(label), dtype=bool) if selection.include_test else ~in_test
    usable = considered & (label >= 0)
    log(
        f"[select] {len(listed[1])} listed events: {int(in_test.sum())} in the test split "
        f"({'used' if selection.include_test else 'kept out'}), "
        f"{int((considered & (label < 0)).sum())} of processes without a class (dropped), "
        f"{int(usable.sum())} for train/val"
    )
    split = found["split"].copy()
    if selection.val_fraction is not None:
        v = event_uniform(found["sample"], found["run"], found["event"], VAL_SALT)
        split = np.where(v < selection.val_fraction, VAL, TRAIN).astype(np.int8)
    order = event_uniform(found["sample"], found["run"], found["event"], SUBSET_SALT)
    groups = _groups(label, names, selection.stratify, found["sample"].astype(str))
    train = _choose(usable & (split == TRAIN), groups, order, selection.size, "training")
    val = _choose(usable & (split == VAL), groups, order, None, "validation")
    chosen = np.zeros(len(split), dtype=bool)
    chosen[train] = chosen[val] = True
    for name, rows in (("train", train), ("val", val)):
        counts = np.bincount(label[rows], minlength=len(names))
        log(
            f"[select] {name}: {len(rows)} events ("
            + ", ".join(f"{n} {c}" for n, c in zip(names, counts, strict=True))
            + ")"
        )
    manifest = _write(parent, dataset, entries, found, chosen, split, output, selection)
    write_stats(output)
    return manifest


def _read_list(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise SelectionError(f"cannot read the event list {path}: {error}") from None
    missing = [c for c in ("sample", "run", "event") if c not in table.column_names]
    if missing:
        raise SelectionError(f"the event list {path} lacks column(s) {missing}")
    if table.num_rows == 0:
        raise SelectionError(f"the event list {path} is empty")
    return keys(table)


def _find(entries, listed, events_path, dataset) -> dict[str, np.ndarray]:
    """Shard, row, ids, split and process of every listed event, in dataset file order."""
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("shard", "row", "sample", "run", "event", "split", "process")
    }
    matched = np.zeros(len(listed[1]), dtype=bool)
    for index, entry in enumerate(entries):
        table = pq.read_table(entry.path, columns=["sample", "run", "event", "split", "process"])
        try:
            where = locate(listed, keys(table))
        except DuplicateEventError as error:
            raise SelectionError(f"the event list {events_path}: {error}") from None
        rows = np.flatnonzero(where >= 0)
        matched[where[rows]] = True
        sample, run, event = keys(table.take(pa.array(rows)))
        parts["shard"].append(np.full(len(rows), index))
        parts["row"].append(rows)
        parts["sample"].append(sample.astype(str))
        parts["run"].append(run)
        parts["event"].append(event)
        for name in ("split", "process"):
            parts[name].append(table[name].to_numpy()[rows])
    if not matched.all():
        i = int(np.flatnonzero(~matched)[0])
        raise SelectionError(
            f"{int((~matched).sum())} event(s) of {events_path} are not in {dataset}, e.g. "
            f"sample {listed[0][i]!r} run {listed[1][i]} event {listed[2][i]}"
        )
    return {k: np.concatenate(v) for k, v in parts.items()}


def _labels(process: np.ndarray, class_map: Mapping[str, int]) -> np.ndarray:
    """Class index per event, -1 for a process without a class."""
    ids = np.array(sorted(int(p) for p in class_map), dtype=np.int64)
    classes = np.array([int(class_map[str(p)]) for p in ids], dtype=np.int64)
    if len(ids) == 0:
        return np.full(len(process), -1, dtype=np.int64)
    position = np.searchsorted(ids, process).clip(max=len(ids) - 1)
    return np.where(ids[position] == process, classes[position], -1)


def _groups(
    label: np.ndarray, names: list[str], stratify, sample: np.ndarray
) -> list[tuple[np.ndarray, float]] | None:
    """(member mask, share) per stratification group: each named class or sample, then the
    rest (the groups must not overlap: a sample and its own class cannot both be named)."""
    if not stratify:
        return None
    samples = sorted(set(sample.tolist()))
    unknown = [c for c in stratify if c not in names and c not in samples]
    if unknown:
        raise SelectionError(
            f"stratify names {unknown}, neither a class ({names}) nor a listed sample ({samples})"
        )
    shares = [float(v) for v in stratify.values()]
    if any(not 0 < s <= 1 for s in shares) or sum(shares) > 1 + 1e-9:
        raise SelectionError(f"stratify shares must be in (0, 1] and sum to <= 1, got {shares}")
    members = [label == names.index(key) if key in names else sample == key for key in stratify]
    if (np.sum(members, axis=0) > 1).any():
        raise SelectionError(f"stratify groups {list(stratify)} overlap: name each event once")
    groups = list(zip(members, shares, strict=True))
    rest = 1.0 - sum(shares)
    if rest > 1e-9:
        groups.append((~np.any(members, axis=0), rest))
    return groups


def _choose(pool: np.ndarray, groups, order: np.ndarray, size: int | None, what: str) -> np.ndarray:
    """Rows of ``pool`` to keep: the first ones in ``order``, per group at its exact share."""
    if groups is None:
        rows = np.flatnonzero(pool)
        if size is None:
            return rows
        if size > len(rows):
            raise SelectionError(f"asked for {size} {what} events; {len(rows)} are selected")
        return rows[np.argsort(order[rows], kind="stable")[:size]]
    available = [int((pool & member).sum()) for member, _ in groups]
    most = min(int(a / share + 1e-9) for a, (_, share) in zip(available, groups, strict=True))
    total = most if size is None else size
    if total > most:
        raise SelectionError(
            f"asked for {size} {what} events with shares {[s for _, s in groups]}; the "
            f"selected events allow at most {most} (per group: {available})"
        )
    while True:  # rounding may overfill the last group by an event or two
        quotas = [round(total * share) for _, share in groups[:-1]]
        quotas.append(total - sum(quotas))
        if all(q <= a for q, a in zip(quotas, available, strict=True)) or total == 0:
            break
        total -= 1
    chosen = []
    for (member, _), quota in zip(groups, quotas, strict=True):
        rows = np.flatnonzero(pool & member)
        chosen.append(rows[np.argsort(order[rows], kind="stable")[:quota]])
    return np.sort(np.concatenate(chosen))


def _write(parent, dataset, entries, found, chosen, split, output: Path, selection) -> dict:
    """Copy the chosen rows (every column, new split) shard by shard; rename into place."""
    remove_stale(output)
    staging = temporary_name(output)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        row_group = int(parent.get("conversion", {}).get("row_group_events", 10_000))
        shards, counts, events = [], {}, {}
        for index, entry in enumerate(entries):
            keep = chosen & (found["shard"] == index)
            if not keep.any():
                continue
            table = pq.read_table(entry.path).take(pa.array(found["row"][keep]))
            table = table.set_column(
                table.column_names.index("split"), "split", pa.array(split[keep], pa.int8())
            )
            name = f"{len(shards):04d}_{Path(entry.path).name}"
            shards.append(write_shard(table, staging / name, entry.sample, row_group))
            for pid, s in zip(found["process"][keep], split[keep], strict=True):
                counts.setdefault(str(int(pid)), [0, 0, 0])[int(s)] += 1
            events[entry.sample] = events.get(entry.sample, 0) + int(keep.sum())
        record = Manifest.from_dict(dict(parent))
        record.name = f"{parent['name']}/selected"
        record.shards = shards
        record.counts = dict(sorted(counts.items(), key=lambda kv: int(kv[0])))
        record.samples = {
            s: {**parent["samples"].get(s, {}), "events": n} for s, n in events.items()
        }
        record.sources = [{"manifest": str(manifest_path(dataset).resolve())}]
        record.selection = selection.record(dataset)
        record.write(staging)
        manifest = record.to_dict()
        old = temporary_name(output, "old")
        if output.exists():
            os.replace(output, old)
        os.replace(staging, output)
        shutil.rmtree(old, ignore_errors=True)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)
