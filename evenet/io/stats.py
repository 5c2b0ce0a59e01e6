"""stats.json: normalisation statistics of a dataset, and the human-readable summary.

Unweighted mean and standard deviation of every feature of ``x``, ``x_extra``, ``globals``,
``neutrinos`` and ``partons`` after the manifest's transforms (log1p on energies, momenta
and masses), over real (unmasked) entries of the training split only. Periodic features
(φ) get mean 0 and std 1 and are flagged: the model handles them periodically.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from evenet.io.columns import to_numpy
from evenet.io.manifest import (
    STATS_NAME,
    load_manifest,
    manifest_path,
    sha256_file,
    shard_entries,
    write_json_atomic,
)
from evenet.io.schema import (
    GLOBAL_FEATURES,
    LOG1P_FEATURES,
    NEUTRINO_FEATURES,
    OBJECT_FEATURES,
    PARTON_FEATURES,
    PERIODIC_FEATURES,
    SPLITS,
)

_MASKS = {
    "x": "x_mask",
    "x_extra": "x_mask",
    "neutrinos": "neutrinos_mask",
    "partons": "partons_mask",
}


class _Moments:
    def __init__(self, n_features: int):
        self.count = np.zeros(n_features)
        self.sum = np.zeros(n_features)
        self.sumsq = np.zeros(n_features)

    def add(self, values: np.ndarray, mask: np.ndarray) -> None:
        """values (..., F), mask broadcastable to values[..., 0]."""
        flat = values.reshape(-1, values.shape[-1]).astype(np.float64)
        keep = np.broadcast_to(mask, values.shape[:-1]).reshape(-1)
        flat = flat[keep]
        self.count += len(flat)
        self.sum += flat.sum(axis=0)
        self.sumsq += (flat * flat).sum(axis=0)

    def result(self):
        count = np.maximum(self.count, 1)
        mean = self.sum / count
        std = np.sqrt(np.maximum(self.sumsq / count - mean * mean, 0.0))
        return mean, np.where(std > 0, std, 1.0)


def compute_stats(location) -> dict:
    manifest = load_manifest(location)
    groups = {"x": list(OBJECT_FEATURES), "globals": list(GLOBAL_FEATURES)}
    if manifest.get("x_extra"):
        groups["x_extra"] = list(manifest["x_extra"])
    if manifest.get("globals_extra"):
        groups["globals_extra"] = list(manifest["globals_extra"])
    if manifest.get("has_targets"):
        groups["neutrinos"] = list(NEUTRINO_FEATURES)
        groups["partons"] = list(PARTON_FEATURES)
    moments = {g: _Moments(len(f)) for g, f in groups.items()}
    needed = sorted({*groups, *(_MASKS[g] for g in groups if g in _MASKS), "split"})
    events = 0
    for shard in shard_entries(manifest, location):
        parquet = pq.ParquetFile(shard.path)
        for index in range(parquet.num_row_groups):
            table = parquet.read_row_group(index, columns=needed)
            train = table.column("split").to_numpy() == SPLITS["train"]
            events += int(train.sum())
            for group, names in groups.items():
                values = to_numpy(table.column(group))[train]
                for k, name in enumerate(names):
                    if name in LOG1P_FEATURES.get(group, ()):
                        values[..., k] = np.log1p(np.maximum(values[..., k], 0.0))
                mask = (
                    to_numpy(table.column(_MASKS[group]))[train]
                    if group in _MASKS
                    else np.ones(len(values), bool)
                )
                moments[group].add(values, mask)
    if events == 0:
        raise ValueError(f"{manifest_path(location)}: no training events to compute statistics on")
    stats = {
        "schema_version": manifest["schema_version"],
        "format": STATS_FORMAT,
        "dataset": manifest["name"],
        # stats belong to one version of the dataset: training refuses them for another
        "manifest_sha256": sha256_file(manifest_path(location)),
        "split": "train",
        "events": events,
    }
    for group, names in groups.items():
        mean, std = moments[group].result()
        periodic = [n in PERIODIC_FEATURES.get(group, ()) for n in names]
        stats[group] = {
            "features": names,
            "log1p": [n in LOG1P_FEATURES.get(group, ()) for n in names],
            "periodic": periodic,
            "mean": [0.0 if p else float(m) for m, p in zip(mean, periodic, strict=True)],
            "std": [1.0 if p else float(s) for s, p in zip(std, periodic, strict=True)],
        }
    return stats


def write_stats(location) -> dict:
    stats = compute_stats(location)
    write_json_atomic(manifest_path(location).parent / STATS_NAME, stats)
    return stats


# Version of stats.json's content; a change reruns rule stats (evenet.job_options.stats).
STATS_FORMAT = 2  # 2: records the manifest_sha256 it belongs to

_MULTIPLICITIES = [GLOBAL_FEATURES.index(n) for n in ("nLepton", "nJet", "nBJet")]


def summary(location) -> str:
    """Events per process and split, and object multiplicities, as a text table."""
    manifest = load_manifest(location)
    names = {pid: entry["name"] for pid, entry in manifest.get("processes", {}).items()}
    names["-1"] = "data"
    lines = [
        f"dataset {manifest['name']} ({manifest['kind']}, schema v{manifest['schema_version']})",
        f"{'process':>16} {'id':>4} {'train':>9} {'val':>9} {'test':>9}",
    ]
    for pid, counts in manifest["counts"].items():
        row = " ".join(f"{c:>9}" for c in counts)
        lines.append(f"{names.get(pid, '?'):>16} {pid:>4} {row}")
    totals = np.sum(list(manifest["counts"].values()), axis=0)
    lines.append(f"{'total':>16} {'':>4} " + " ".join(f"{int(c):>9}" for c in totals))
    sums = np.zeros(3)
    n = 0
    for shard in shard_entries(manifest, location):
        parquet = pq.ParquetFile(shard.path)
        for index in range(parquet.num_row_groups):
            g = to_numpy(parquet.read_row_group(index, columns=["globals"]).column("globals"))
            sums += g[:, _MULTIPLICITIES].sum(axis=0)
            n += len(g)
    mean = sums / max(n, 1)
    lines.append(
        f"mean multiplicities over {n} events: leptons {mean[0]:.2f}, jets {mean[1]:.2f}, "
        f"b-tagged jets {mean[2]:.2f}"
    )
    return "\n".join(lines)
