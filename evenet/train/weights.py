"""Training weights (DESIGN.md "Training").

``weighting`` sets each process's weight before the mix:

* ``events`` (default): generator weights scaled to mean |w| = 1 on the training split (sign
  kept), so every process keeps its event share;
* ``cross_section``: the physical weight w · xsec_pb / sum_weights (the manifest's σ and Σw
  over all generated events of the sample): samples generated in slices (pTHat) or with
  different counts combine as one physical distribution.

With a ``mix`` of {catalogue category: share}, each category is then scaled to carry its
share of the summed weight (processes within a category keep their relative weights; e.g.
{signal: 0.5, background: 0.5} balances the classes). The factors are normalised so the mean
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

WEIGHTINGS = ("events", "cross_section")


def _train_weights(dataset: Path) -> tuple[np.ndarray, np.ndarray]:
    process, weight = [], []
    for entry in shard_entries(load_manifest(dataset), dataset):
        table = pq.read_table(entry.path, columns=["split", "process", "weight"])
        train = table.column("split").to_numpy() == SPLITS["train"]
        process.append(table.column("process").to_numpy()[train])
        weight.append(table.column("weight").to_numpy()[train])
    return np.concatenate(process), np.concatenate(weight).astype(np.float64)


def cross_section_factors(manifest: dict, where: str) -> dict[int, float]:
    """Per process id, xsec_pb / sum_weights of its sample (physical weight per unit w)."""
    factors: dict[int, float] = {}
    for name, sample in manifest.get("samples", {}).items():
        xsec, total = sample.get("xsec_pb"), sample.get("sum_weights")
        if xsec is None or not total:
            raise ModelConfigError(
                f"{where}: sample '{name}' has no cross-section record (xsec_pb, sum_weights); "
                "training.weighting: cross_section needs generated samples (use events)"
            )
        for pid in np.atleast_1d(sample["process"]).tolist():
            if int(pid) in factors:
                raise ModelConfigError(
                    f"{where}: process {pid} is in several samples; cross_section weighting "
                    "needs one sample per process"
                )
            factors[int(pid)] = float(xsec) / float(total)
    return factors


def process_factors(
    dataset: str | Path, mix: dict | None = None, weighting: str = "events"
) -> dict[int, float]:
    """Per process id, the factor that turns its generator weight into its training weight."""
    if weighting not in WEIGHTINGS:
        raise ModelConfigError(f"training.weighting '{weighting}' is not one of {WEIGHTINGS}")
    process, weight = _train_weights(Path(dataset))
    ids = np.unique(process)
    abs_sum = {int(p): float(np.sum(np.abs(weight[process == p]))) for p in ids}
    if weighting == "events":
        counts = {int(p): int(np.sum(process == p)) for p in ids}
        factors = {p: (counts[p] / s if s > 0 else 0.0) for p, s in abs_sum.items()}
    else:
        manifest = load_manifest(dataset)
        physical = cross_section_factors(manifest, str(dataset))
        missing = sorted(set(abs_sum) - set(physical))
        if missing:
            raise ModelConfigError(f"{dataset}: processes {missing} have no sample record")
        factors = {p: physical[p] for p in abs_sum}
    if mix:
        recorded = load_manifest(dataset).get("processes", {})
        category = {int(pid): entry["category"] for pid, entry in recorded.items()}
        unknown = sorted(set(mix) - set(category.values()))
        if unknown:
            raise ModelConfigError(f"training mix names unknown categories {unknown}")
        summed = {p: abs_sum[p] * factors[p] for p in factors}  # Σ|training weight| per process
        in_category: dict[str, float] = {}
        for p, total in summed.items():
            c = category.get(p, "data")
            in_category[c] = in_category.get(c, 0.0) + total
        shares = {c: float(mix.get(c, 0.0)) for c in in_category}
        total_share = sum(shares.values())
        if total_share <= 0:
            raise ModelConfigError(f"training mix gives no weight to this dataset's {in_category}")
        total = sum(in_category.values())
        for p in factors:
            c = category.get(p, "data")
            if in_category[c] > 0:
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
