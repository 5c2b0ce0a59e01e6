"""The DataLoader around a ShardDataset, with epoch and exact-resume bookkeeping."""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader

from evenet.data.dataset import ShardDataset
from evenet.data.packing import unpack


class ShardLoader:
    """Iterates a ShardDataset through a DataLoader; ``state_dict`` counts delivered batches.

    Worker processes cannot report what the training loop has consumed (they prefetch), so
    with workers this loader counts the batches it hands out. Resume with the same
    ``num_workers``: the batch sequence of a rank depends on it (batch j from worker j % K,
    which relies on the DataLoader's default in-order delivery).
    """

    def __init__(self, dataset: ShardDataset, dataloader: DataLoader):
        self.dataset, self.dataloader = dataset, dataloader
        self.workers = dataloader.num_workers

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if self.workers == 0:  # the dataset runs (and counts) in this process
            yield from self.dataloader
            return
        self.dataset.begin_epoch()  # before the workers call iter(dataset)
        for packed in self.dataloader:
            self.dataset.delivered()
            yield unpack(packed)

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def state_dict(self) -> dict:
        return self.dataset.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.dataset.load_state_dict(state)


def make_loader(
    location: str | os.PathLike,
    *,
    num_workers: int = 2,
    pin_memory: bool | None = None,
    persistent_workers: bool | None = None,
    prefetch_factor: int = 2,
    **dataset_options,
) -> ShardLoader:
    """A loader over the manifest at ``location``; ``dataset_options`` go to ShardDataset.

    The dataset yields whole batches (batch_size=None here). pin_memory defaults to CUDA being
    available; workers persist across epochs by default (the epoch reaches them through
    shared memory).
    """
    dataset = ShardDataset(location, **dataset_options)
    dataset.loader_workers = max(1, num_workers)
    dataset.packed = num_workers > 0
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    if persistent_workers is None:
        persistent_workers = num_workers > 0
    extra = {"prefetch_factor": prefetch_factor} if num_workers > 0 else {}
    dataloader = DataLoader(
        dataset,
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
        # Its own generator: starting an epoch's iterator then never draws from torch's global
        # RNG, which training checkpoints and restores for exact resume (our shuffling is
        # seeded by the dataset itself).
        generator=torch.Generator().manual_seed(int(dataset_options.get("seed", 0))),
        persistent_workers=persistent_workers,
        **extra,
    )
    return ShardLoader(dataset, dataloader)
