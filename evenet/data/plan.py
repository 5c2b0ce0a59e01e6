"""Deterministic epoch plan: which selected events each (rank, worker) slot delivers.

The selected events of all row groups, concatenated in the epoch's row-group order, form one
stream. Rank r takes the contiguous range [r·E, r·E + E_used) of it, E = N // world_size; every
rank delivers the same number T of batches (DDP never waits on a missing step):
drop_last: T = E // B, E_used = T·B;  else T = ceil(E / B), E_used = E (one partial batch).
The N − world_size·E_used events left over are dropped for this epoch (a different set each
epoch when the row-group order is shuffled). Within a rank, batch j comes from worker j % K,
which is the order in which a DataLoader collects from its K workers; each worker reads one
contiguous part of the rank's range, so a row group is read by at most a few slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Piece:
    """Selected events [start, stop) of one row group (counted among its selected events)."""

    group: int  # index into the dataset's list of row groups
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Plan:
    epoch: int
    selected: int  # N: selected events in the dataset
    world_size: int
    workers: int  # K: loader workers per rank (1 without worker processes)
    batch_size: int
    batches: int  # T: batches every rank delivers
    events_per_rank: int  # E_used
    rank_stride: int  # E: start of rank r is r * E
    order: np.ndarray  # row-group indices in this epoch's order
    ends: np.ndarray  # cumulative selected events along ``order``

    @property
    def dropped(self) -> int:
        """Selected events no rank delivers this epoch."""
        return self.selected - self.world_size * self.events_per_rank

    def summary(self) -> dict:
        return {
            "epoch": self.epoch,
            "selected": self.selected,
            "batches_per_rank": self.batches,
            "events_per_rank": self.events_per_rank,
            "dropped": self.dropped,
        }

    def worker_batches(self, worker: int) -> int:
        return self.batches // self.workers + (worker < self.batches % self.workers)

    def worker_events(self, worker: int) -> int:
        events = self.worker_batches(worker) * self.batch_size
        if self.batches and worker == (self.batches - 1) % self.workers:
            events -= self.batches * self.batch_size - self.events_per_rank  # partial last batch
        return events

    def worker_range(self, rank: int, worker: int) -> tuple[int, int]:
        start = rank * self.rank_stride + sum(self.worker_events(w) for w in range(worker))
        return start, start + self.worker_events(worker)

    def pieces(self, rank: int, worker: int) -> list[Piece]:
        """The row-group slices, in stream order, that hold the slot's events."""
        start, stop = self.worker_range(rank, worker)
        out = []
        position = int(np.searchsorted(self.ends, start, side="right"))
        while start < stop:
            group_start = int(self.ends[position - 1]) if position else 0
            end = min(stop, int(self.ends[position]))
            out.append(Piece(int(self.order[position]), start - group_start, end - group_start))
            start, position = end, position + 1
        return out


def make_plan(
    counts: np.ndarray,
    *,
    epoch: int,
    seed: int,
    shuffle: bool,
    world_size: int,
    workers: int,
    batch_size: int,
    drop_last: bool,
) -> Plan:
    """``counts``: selected events per row group (the dataset's canonical order)."""
    counts = np.asarray(counts, dtype=np.int64)
    order = np.arange(len(counts))
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(len(counts))
    order = order[counts[order] > 0]
    ends = np.cumsum(counts[order])
    selected = int(ends[-1]) if len(ends) else 0
    stride = selected // world_size
    if drop_last:
        batches = stride // batch_size
        used = batches * batch_size
    else:
        batches = -(-stride // batch_size)
        used = stride
    return Plan(
        epoch=epoch,
        selected=selected,
        world_size=world_size,
        workers=workers,
        batch_size=batch_size,
        batches=batches,
        events_per_rank=used,
        rank_stride=stride,
        order=order,
        ends=ends,
    )


def windows(pieces: list[Piece], min_events: int) -> list[list[Piece]]:
    """Consecutive pieces grouped into shuffle windows of at least ``min_events`` (last: less)."""
    out: list[list[Piece]] = []
    current: list[Piece] = []
    size = 0
    for piece in pieces:
        current.append(piece)
        size += len(piece)
        if size >= min_events:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    return out
