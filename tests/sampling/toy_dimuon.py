"""A toy dimuon dataset where the muons' kinematics and ip3d depend on the dimuon mass.

The dimuon (mass M ~ U(8, 12) GeV, pT 15 GeV + Exp(15 GeV), rapidity N(0, 1)) decays
isotropically in its rest frame into two muons; each muon's ip3d is 0.01 cm x (10 GeV / pT)
with 20% log-normal noise (ip3d ~ 1/pT), its isolation Exp(0.2). Columns as the converter
writes them (variant anomaly: x_extra iso, ip3d; globals_extra M_ll, pT_ll, dR_ll); the globals
are computed by the converter's own function.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from evenet.catalogue import load_catalogue, manifest_record
from evenet.io.manifest import Manifest, file_record
from evenet.io.pointcloud import globals_from_point_cloud
from evenet.io.schema import N_OBJECTS, Shapes, arrow_schema, columns_description
from evenet.io.shards import to_table
from evenet.io.stats import write_stats

MUON_MASS = 0.1056583755
X_EXTRA = ("iso", "ip3d")
GLOBALS_EXTRA = ("M_ll", "pT_ll", "dR_ll")


def _boost(e, p, beta):
    """Four-momenta (e, p (n, 3)) boosted by velocity ``beta`` (n, 3)."""
    b2 = np.sum(beta * beta, axis=1, keepdims=True)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p, axis=1, keepdims=True)
    p_out = p + ((gamma - 1.0) * bp / np.maximum(b2, 1e-300) + gamma * e[:, None]) * beta
    return (gamma[:, 0] * (e + bp[:, 0])), p_out


def toy_columns(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mass = rng.uniform(8.0, 12.0, n)
    pt = 15.0 + rng.exponential(15.0, n)
    rapidity = rng.normal(0.0, 1.0, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    mt = np.sqrt(mass**2 + pt**2)
    pair_p = np.stack([pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(rapidity)], axis=1)
    beta = pair_p / (mt * np.cosh(rapidity))[:, None]
    cos_t, phi_t = rng.uniform(-1, 1, n), rng.uniform(-np.pi, np.pi, n)
    sin_t = np.sqrt(1 - cos_t**2)
    star = np.sqrt(mass**2 / 4 - MUON_MASS**2)[:, None] * np.stack(
        [sin_t * np.cos(phi_t), sin_t * np.sin(phi_t), cos_t], axis=1
    )
    muons = []
    for sign in (1.0, -1.0):
        e, p = _boost(mass / 2, sign * star, beta)
        mu_pt = np.hypot(p[:, 0], p[:, 1])
        muons.append(
            {
                "E": e,
                "pT": mu_pt,
                "eta": np.arcsinh(p[:, 2] / mu_pt),
                "phi": np.arctan2(p[:, 1], p[:, 0]),
                "charge": np.full(n, sign),
                "ip3d": 0.01 * (10.0 / mu_pt) * np.exp(0.2 * rng.normal(size=n)),
                "iso": rng.exponential(0.2, n),
            }
        )
    lead = muons[0]["pT"] >= muons[1]["pT"]
    x = np.zeros((n, N_OBJECTS, 7), np.float32)
    x_extra = np.zeros((n, N_OBJECTS, 2), np.float32)
    for slot, (first, second) in enumerate(((0, 1), (1, 0))):
        chosen = {k: np.where(lead, muons[first][k], muons[second][k]) for k in muons[0]}
        x[:, slot] = np.stack(
            [
                chosen["E"],
                chosen["pT"],
                chosen["eta"],
                chosen["phi"],
                0 * mass,
                1 + 0 * mass,
                chosen["charge"],
            ],
            axis=1,
        )
        x_extra[:, slot] = np.stack([chosen["iso"], chosen["ip3d"]], axis=1)
    x_mask = np.zeros((n, N_OBJECTS), bool)
    x_mask[:, :2] = True
    global_values, extra_values = globals_from_point_cloud(x, x_mask, extra_names=GLOBALS_EXTRA)
    return {
        "run": np.zeros(n, np.int64),
        "event": np.arange(n, dtype=np.int64),
        "split": np.where(rng.random(n) < 0.8, 0, 2).astype(np.int8),
        "x": x,
        "x_mask": x_mask,
        "x_extra": x_extra,
        "globals": global_values,
        "globals_extra": extra_values,
        "process": np.full(n, 6, np.int32),
        "weight": np.ones(n, np.float32),
    }


def write_toy_dataset(
    folder: Path, n: int, seed: int = 0, columns: dict | None = None
) -> tuple[Path, dict]:
    """One shard of ``n`` toy events (or of the given ``columns``, as toy_columns returns
    them) with its manifest and stats.json; returns the manifest path and the columns."""
    folder.mkdir(parents=True, exist_ok=True)
    shapes = Shapes(0, 0, 0, len(X_EXTRA), len(GLOBALS_EXTRA))
    schema = arrow_schema(shapes, with_targets=False)
    columns = toy_columns(n, seed) if columns is None else columns
    path = folder / "toy_0000.parquet"
    pq.write_table(to_table(columns, schema, "toy"), path)
    counts = np.bincount(columns["split"], minlength=3).tolist()
    manifest = Manifest(
        kind="dataset",
        name="toy_dimuon",
        columns=columns_description(shapes, False),
        shapes={"R": 0, "D": 0, "P": 0, "K": len(X_EXTRA)},
        has_targets=False,
        target_columns=[],
        topologies=[],
        processes=manifest_record(load_catalogue()),
        samples={"toy": {"process": [6], "xsec_pb": 1.0, "sum_weights": float(n), "events": n}},
        shards=[
            {
                "path": path.name,
                "sample": "toy",
                "rows": n,
                **file_record(path),
                "row_groups": [{"rows": n, "splits": counts}],
            }
        ],
        counts={"6": counts},
        conversion={"toy": True},
        config_hash="toy",
        code_version="toy",
    )
    manifest.x_extra = list(X_EXTRA)
    manifest.globals_extra = list(GLOBALS_EXTRA)
    location = manifest.write(folder)
    write_stats(location)
    return location, columns
