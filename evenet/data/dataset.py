"""Streaming, DDP-aware torch dataset over the Parquet shards of a manifest.

Batches are dicts of tensors with the stored dtypes (x float32 [B, 18, 7], x_mask bool,
globals float32, process int32, weight float32, run/event int64, targets as stored) plus
``label`` (int64) when the manifest has a class map. Events whose process is not in the class
map are dropped while labels are on (``use_class_map=False`` keeps them, without labels).
Selection is planned from the manifest's per-row-group split counts and each sample's list of
processes (``samples[name].process``); only a sample mixing selected and unselected processes
has its split/process columns read once. Every read checks its count against the plan.

Shuffling is two-level and deterministic per (seed, epoch): the row-group order of the whole
dataset is permuted (plan.py), then each slot shuffles the events of consecutive windows of at
least ``shuffle_events`` events (whole row-group slices; a window is never smaller than one).
Window RNGs are seeded by (seed, epoch, rank, worker, window), so resuming needs no RNG state.
Memory per slot is about one window (~1 kB per event with targets) plus one row group.

Epochs follow DistributedSampler: call ``set_epoch`` before each; without it every pass
repeats the same order. Resume: the position is the number of batches the rank delivered in
the epoch. A rank's batches are a fixed sequence for a fixed number K of loader workers
(batch j from worker j % K, the order in which a DataLoader collects them), so a resumed run
skips whole windows unread and starts inside the right one. Iterating the dataset in this
process counts batches itself; with worker processes use ``make_loader``, whose loader counts
what it hands out (and a resumed loader needs the same K).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from evenet.data.batching import Segment, allocate, batch_segments, fill, window
from evenet.data.packing import PackedBatch, pack
from evenet.data.plan import Plan, make_plan
from evenet.data.plan import windows as window_pieces
from evenet.data.reader import DataError, ShardReader, count_selected
from evenet.io.manifest import (
    ShardEntry,
    check_shards,
    load_manifest,
    manifest_path,
    shard_entries,
)
from evenet.io.schema import SPLITS, TARGET_COLUMNS

NOT_TENSORS = ("sample", "split")  # string column / already fixed by the selection


def _distributed() -> tuple[int, int]:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class ShardDataset(IterableDataset):
    def __init__(
        self,
        location: str | os.PathLike,
        *,
        split: str | int = "train",
        processes: Iterable[int] | None = None,
        columns: Iterable[str] | None = None,
        batch_size: int = 1024,
        shuffle: bool | None = None,  # default: shuffle the train split only
        shuffle_events: int = 65536,
        seed: int = 0,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        use_class_map: bool = True,
        max_events: int | None = None,
    ):
        super().__init__()
        manifest = load_manifest(location)
        self.location = manifest_path(location)
        entries = shard_entries(manifest, location)
        missing = [str(e.path) for e in entries if not e.path.is_file()]
        if missing:
            raise DataError(
                f"{len(missing)} shard(s) listed in {self.location} are missing: {missing[0]}"
                + (" ..." if len(missing) > 1 else "")
            )
        check_shards(entries, self.location)  # sizes and modification times: cheap
        self.split = SPLITS.get(split, -1) if isinstance(split, str) else int(split)
        if self.split not in SPLITS.values():
            raise ValueError(f"split must be one of {list(SPLITS)} or 0-2, got {split!r}")
        self.batch_size, self.drop_last = int(batch_size), bool(drop_last)
        self.shuffle = self.split == SPLITS["train"] if shuffle is None else bool(shuffle)
        self.shuffle_events, self.seed = int(shuffle_events), int(seed)
        if rank is None or world_size is None:
            rank, world_size = _distributed()
        self.rank, self.world_size = int(rank), int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")

        raw_map = manifest.get("class_map") if use_class_map else None
        self.class_map = {int(k): int(v) for k, v in raw_map.items()} if raw_map else None
        allowed = None if processes is None else {int(p) for p in processes}
        if self.class_map is not None:
            allowed = set(self.class_map) if allowed is None else allowed & set(self.class_map)
        self.processes = allowed
        self.columns = _columns(manifest, columns, labels=self.class_map is not None)
        self._groups, self._counts = _selected_counts(manifest, entries, self.split, allowed)
        # Data-size scans: a fixed subset (the same every epoch, seed and world size) taken
        # proportionally from every row group; the reader still checks the full counts.
        self.max_events = None if max_events is None else int(max_events)
        available = int(self._counts.sum())
        if self.max_events is not None and not 1 <= self.max_events <= available:
            raise DataError(
                f"{self.location}: asked for a subset of {self.max_events} {split} events; the "
                f"selection holds {available} (give at most that many, or all)"
            )
        self._plan_counts = subset_counts(self._counts, self.max_events)
        self.total_events = sum(entry.rows for entry in entries)  # all splits and processes
        self._epoch = self._resume = self._consumed = 0
        if self.plan(0).batches == 0:
            raise DataError(
                f"{self.location}: the selection (split {split!r}, processes "
                f"{'all' if allowed is None else sorted(allowed)}) holds "
                f"{int(self._counts.sum())} events: not one batch for each of "
                f"{self.world_size} rank(s)"
            )
        self.loader_workers = 1  # K of the loader that iterates this dataset (make_loader sets it)
        self.packed = False  # worker processes send one shared buffer per batch (make_loader)
        # Epoch and resume position as seen by worker processes (persistent ones included).
        self._shared = torch.zeros(2, dtype=torch.int64).share_memory_()
        self._reader: ShardReader | None = None

    # -- planning -------------------------------------------------------------------------
    def plan(self, epoch: int | None = None, workers: int = 1) -> Plan:
        """What every rank delivers in ``epoch`` (default: the current one)."""
        return make_plan(
            self._plan_counts,
            epoch=self._epoch if epoch is None else epoch,
            seed=self.seed,
            shuffle=self.shuffle,
            world_size=self.world_size,
            workers=workers,
            batch_size=self.batch_size,
            drop_last=self.drop_last,
        )

    def __len__(self) -> int:
        """Batches per rank and epoch (the same for every epoch and every rank)."""
        return self.plan(0).batches

    # -- epoch and resume -----------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        if epoch != self._epoch:
            self._epoch, self._resume, self._consumed = int(epoch), 0, 0

    def state_dict(self) -> dict:
        return {
            "epoch": self._epoch,
            "batches": self._consumed,
            "workers": self.loader_workers,
            **self._identity(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue epoch ``state["epoch"]`` after its first ``state["batches"]`` batches."""
        expected = {"workers": self.loader_workers, **self._identity()}
        differ = {k: (state.get(k), v) for k, v in expected.items() if state.get(k) != v}
        if differ:
            raise DataError(
                f"cannot resume on {self.location}: the data changed since the checkpoint "
                f"(saved, now): {differ}; start the run anew"
            )
        self._epoch = int(state["epoch"])
        self._resume = self._consumed = int(state["batches"])

    def _identity(self) -> dict:
        """What fixes the batch sequence; a resumed dataset must agree on all of it."""
        return {
            "seed": self.seed,
            "split": self.split,
            "processes": None if self.processes is None else sorted(self.processes),
            "batch_size": self.batch_size,
            "drop_last": self.drop_last,
            "shuffle": self.shuffle,
            "shuffle_events": self.shuffle_events,
            "world_size": self.world_size,  # not the rank: all ranks are at the same batch
            "selected": int(self._plan_counts.sum()),
        }

    def delivered(self) -> None:
        """One more batch reached the consumer (called by the loader when workers produce)."""
        self._consumed += 1

    def begin_epoch(self) -> tuple[int, int]:
        """Main process, before an iteration starts: publish (epoch, batches to skip)."""
        start, self._resume = self._resume, 0
        self._consumed = start
        self._shared[0], self._shared[1] = self._epoch, start
        return self._epoch, start

    # -- iteration ------------------------------------------------------------------------
    def __iter__(self) -> Iterator[dict[str, torch.Tensor] | PackedBatch]:
        info = get_worker_info()
        if info is None:  # iterated in this process: it counts its own batches
            epoch, start = self.begin_epoch()
            for batch in self.iter_worker(epoch, 0, 1, start):
                self.delivered()
                yield batch
            return
        epoch, start = (int(v) for v in self._shared.tolist())
        workers = info.num_workers
        # The DataLoader asks worker 0 first, also on resume: worker i plays the slot ("role")
        # whose batch comes next in the rank's sequence j -> slot j % K.
        role = (info.id + start) % workers
        skip = start // workers + (role < start % workers)
        # map() drops each batch's segments (they pin their window) once the batch is built
        convert = pack if self.packed else _tensors
        yield from map(convert, self._segments(epoch, role, workers, skip))

    def iter_worker(
        self, epoch: int, worker: int, workers: int, skip_batches: int = 0
    ) -> Iterator[dict[str, torch.Tensor]]:
        """The batches of one (rank, worker) slot in ``epoch``, after ``skip_batches``."""
        return map(_tensors, self._segments(epoch, worker, workers, skip_batches))

    def _segments(
        self, epoch: int, worker: int, workers: int, skip_batches: int
    ) -> Iterator[list[Segment]]:
        plan = self.plan(epoch, workers)
        windows = self._windows(plan, worker, skip_batches * self.batch_size)
        return batch_segments(windows, self.batch_size)

    def _windows(
        self, plan: Plan, worker: int, skip: int
    ) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
        """(columns, order) of each shuffle window of the slot, from row ``skip`` on."""
        reader = self._get_reader()
        pieces = plan.pieces(self.rank, worker)
        minimum = self.shuffle_events if self.shuffle else 1
        for index, group in enumerate(window_pieces(pieces, minimum)):
            size = sum(len(p) for p in group)
            if skip >= size:  # resumed past this window: not even read
                skip -= size
                continue
            if self.shuffle:
                rng = np.random.default_rng([self.seed, plan.epoch, self.rank, worker, index])
                order = rng.permutation(size)
            else:
                order = np.arange(size)
            columns = window((reader.read(p) for p in group), size)
            yield columns, order[skip:]
            skip = 0
            del columns  # not held while the next window is read

    def _get_reader(self) -> ShardReader:
        if self._reader is None:
            self._reader = ShardReader(
                self._groups,
                self._counts,
                self.columns,
                self.split,
                None if self.processes is None else np.array(sorted(self.processes), np.int32),
                self.class_map,
            )
        return self._reader

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_reader"] = None  # open files stay with their process
        return state


def _tensors(segments: list[Segment]) -> dict[str, torch.Tensor]:
    batch = fill(segments, allocate(segments))
    return {name: torch.from_numpy(values) for name, values in batch.items()}


def _columns(manifest: dict, requested: Iterable[str] | None, labels: bool) -> list[str]:
    """Requested columns, default: every tensor column all shards have (+ label)."""
    absent = set()
    if "target_columns" in manifest:  # a dataset mixing samples without truth lists none
        absent = set(TARGET_COLUMNS) - set(manifest["target_columns"])
    available = [c["name"] for c in manifest["columns"] if c["name"] not in {*NOT_TENSORS, *absent}]
    available += ["label"] if labels else []
    columns = available if requested is None else list(requested)
    unknown = sorted(set(columns) - set(available))
    if unknown or not columns:
        raise ValueError(f"cannot load columns {unknown or columns}; this dataset has {available}")
    return columns


def subset_counts(counts: np.ndarray, max_events: int | None) -> np.ndarray:
    """Per row group, how many of its selected events (the first ones) a subset of
    ``max_events`` takes: proportional to the group's count, rounded by largest remainder."""
    total = int(counts.sum())
    if max_events is None or max_events >= total:
        return counts
    if max_events < 1:
        raise ValueError(f"max_events must be positive, got {max_events}")
    exact = counts * (max_events / total)
    subset = np.floor(exact).astype(np.int64)
    extra = np.argsort(-(exact - subset), kind="stable")[: max_events - int(subset.sum())]
    subset[extra] += 1
    return subset


def _selected_counts(
    manifest: dict, entries: list[ShardEntry], split: int, allowed: set[int] | None
) -> tuple[list[tuple[Path, int]], np.ndarray]:
    """Every row group and its selected events. From the manifest alone (its split counts, or
    0) when the sample's processes are all selected or all not; a sample that mixes both (or
    does not list its processes) has its shards' split and process columns read once."""
    groups, counts = [], []
    for entry in entries:
        processes = _sample_processes(manifest, entry.sample)
        if allowed is None or (processes is not None and processes <= allowed):
            found = [group.splits[split] for group in entry.row_groups]
        elif processes is not None and not processes & allowed:
            found = [0] * len(entry.row_groups)
        else:
            found = count_selected(entry.path, split, np.array(sorted(allowed), np.int32))
            if len(found) != len(entry.row_groups):
                raise DataError(
                    f"shard {entry.path} has {len(found)} row groups, its manifest "
                    f"{len(entry.row_groups)}"
                )
        groups += [(entry.path, index) for index in range(len(entry.row_groups))]
        counts += found
    return groups, np.array(counts, dtype=np.int64)


def _sample_processes(manifest: dict, sample: str) -> set[int] | None:
    """The process ids a sample holds (the converter lists them), None if not listed."""
    process = manifest.get("samples", {}).get(sample, {}).get("process")
    if process is None:
        return None
    return {int(p) for p in (process if isinstance(process, list) else [process])}
