"""Background samples as classifier features (dimuon pT, mu0 ip3d, mu1 ip3d) with their masses:
EveNet's generated events after the quality selection, or the flow's samples.

EveNet's events are point clouds from `evenet sample` (its metadata names the x_extra and
globals_extra columns); the quality selection keeps those whose recomputed dimuon passes the
muon cuts, has opposite charges and lands in the requested region, as a data event must.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from analyses.anomaly.classifier import FEATURES
from analyses.anomaly.quality import MuonCuts, passes
from evenet.io.predictions import generated_metadata, to_numpy
from evenet.stats.weak_supervision import in_sidebands

FLOW = "flow"


def _generated(path) -> tuple[pa.Table, dict]:
    table = pq.read_table(path)
    metadata = generated_metadata(table)
    if metadata is None:
        raise ValueError(f"{path} is not an `evenet sample` output (no provenance metadata)")
    return table, metadata


def evenet_samples(
    path,
    sr: tuple[float, float],
    sb: tuple[float, float] | None = None,
    cap: int | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(features, mass, record) of the generated events passing the quality selection: the
    SR (sb None) or the sidebands (sb given). ``cap`` keeps the first passing ones."""
    table, metadata = _generated(path)
    extra = metadata["globals_extra"]
    mass = to_numpy(table.column("globals_extra"))[:, extra.index("M_ll")].astype(np.float64)
    window = (-np.inf, np.inf) if sb is not None else sr
    keep = passes(table, window, MuonCuts(opposite_sign=True), mass=mass)
    if sb is not None:
        keep &= in_sidebands(mass, sr, sb)
    rows = np.flatnonzero(keep)
    if cap is not None:
        rows = rows[:cap]
    ip3d = metadata["x_extra"].index("ip3d")
    features = np.column_stack(
        [
            to_numpy(table.column("globals_extra"))[rows, extra.index("pT_ll")],
            to_numpy(table.column("x_extra"))[rows, 0, ip3d],
            to_numpy(table.column("x_extra"))[rows, 1, ip3d],
        ]
    ).astype(np.float64)
    record = {
        "generated": table.num_rows,
        "passing": int(keep.sum()),
        "kept": len(rows),
        "efficiency": float(keep.mean()) if table.num_rows else 0.0,
    }
    return features, mass[rows], record


def flow_samples(path, cap: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """(features, mass, record) of a flow's samples (every one: they are drawn at the
    requested masses, nothing to select)."""
    table = pq.read_table(path)
    rows = slice(0, cap)
    features = np.column_stack([to_numpy(table.column(name))[rows] for name in FEATURES])
    mass = to_numpy(table.column("mass"))[rows]
    record = {"generated": table.num_rows, "passing": table.num_rows, "kept": len(mass)}
    record["efficiency"] = 1.0
    return features.astype(np.float64), mass.astype(np.float64), record


def data_features(table: pa.Table) -> np.ndarray:
    """FEATURES of selected data events (analyses.anomaly.events)."""
    return np.column_stack([to_numpy(table.column(name)) for name in FEATURES]).astype(np.float64)
