"""Training weights (DESIGN.md "Training").

Each process's generator weights are scaled to mean |w| = 1 on the training split (sign kept),
then, with a ``mix`` of {catalogue category: share}, multiplied so every category carries its
share of the summed weight (processes within a category keep their event proportions).
Without a mix every process keeps its event share. The factors are normalised so the mean
training weight is 1, and they are computed from the shards' `process` and `weight` columns
(independent of any rank or seed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from evenet.io.manifest import load_manifest, shard_entries
from evenet.io.schema import SPLITS
from evenet.model.errors import ModelConfigError


def _train_weights(dataset: Path) -> tuple[np.ndarray, np.ndarray]:
    process, weight = [], []
    for entry in shard_entries(load_manifest(dataset), dataset):
        table = pq.read_table(entry.path, columns=["split", "process", "weight"])
        train = table.column("split").to_numpy() == SPLITS["train"]
        process.append(table.column("process").to_numpy()[train])
        weight.append(table.column("weight").to_numpy()[train])
    return np.concatenate(process), np.concatenate(weight).astype(np.float64)


def process_factors(dataset: str | Path, mix: dict | None = None) -> dict[int, float]:
    """Per process id, the factor that turns its generator weight into its training weight."""
    process, weight = _train_weights(Path(dataset))
    ids, counts = np.unique(process, return_counts=True)
    mean_abs = {int(p): float(np.mean(np.abs(weight[process == p]))) for p in ids}
    factors = {p: (1.0 / m if m > 0 else 0.0) for p, m in mean_abs.items()}
    if mix:
        recorded = load_manifest(dataset).get("processes", {})
        category = {int(pid): entry["category"] for pid, entry in recorded.items()}
        unknown = sorted(set(mix) - set(category.values()))
        if unknown:
            raise ModelConfigError(f"training mix names unknown categories {unknown}")
        events = dict(zip(ids.tolist(), counts.tolist(), strict=True))
        in_category: dict[str, int] = {}
        for p, n in events.items():
            in_category[category.get(p, "data")] = in_category.get(category.get(p, "data"), 0) + n
        shares = {c: float(mix.get(c, 0.0)) for c in in_category}
        total_share = sum(shares.values())
        if total_share <= 0:
            raise ModelConfigError(f"training mix gives no weight to this dataset's {in_category}")
        total = sum(events.values())
        for p in factors:
            c = category.get(p, "data")
            factors[p] *= (shares[c] / total_share) / (in_category[c] / total)
    lookup = np.array([factors[int(p)] for p in ids])
    mean = float(np.mean(lookup[np.searchsorted(ids, process)] * np.abs(weight)))
    return {p: f / mean for p, f in factors.items()} if mean > 0 else factors


class TrainWeights:
    """Adds ``train_weight`` = weight x factor[process] to a batch (on the batch's device)."""

    def __init__(self, factors: dict[int, float]):
        self.ids = torch.tensor(sorted(factors), dtype=torch.int64)
        self.values = torch.tensor([factors[p] for p in sorted(factors)], dtype=torch.float32)
        # Moved once per device: a copy from (unpinned) host memory every step would make the
        # host wait for the GPU to finish the previous step.
        self._on: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def _lookup(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._on:
            self._on[device] = (self.ids.to(device), self.values.to(device))
        return self._on[device]

    def __call__(self, batch: dict) -> dict:
        process = batch["process"].long()
        ids, values = self._lookup(process.device)
        index = torch.searchsorted(ids, process).clamp(max=len(ids) - 1)
        factor = torch.where(ids[index] == process, values[index], torch.zeros_like(values[index]))
        batch["train_weight"] = batch["weight"].float() * factor
        return batch
