"""The quality selection of generated dimuon events (issue 17 §3): a generated event counts as
a signal-region sample only when its recomputed dimuon passes the analysis's muon cuts and
lands in the SR, as a data event would have to.

`evenet sample` already recomputes the dimuon (globals_extra: M_ll, pT_ll, dR_ll) from the
generated muons and puts them in pT order; this selection reads those columns and the
muons' flags and charges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from evenet.io.predictions import to_numpy

PT, ETA, IS_LEPTON, CHARGE = 1, 2, 5, 6  # x columns (evenet.io.schema.OBJECT_FEATURES)


@dataclass(frozen=True)
class MuonCuts:
    lead_pt_gev: float = 17.0
    sub_pt_gev: float = 8.0
    max_abs_eta: float = 2.4
    opposite_sign: bool = True  # the analysis sample; False selects the same-sign control


def passes(
    table: pa.Table,
    sr: tuple[float, float],
    cuts: MuonCuts = MuonCuts(),
    mass: np.ndarray | None = None,
) -> np.ndarray:
    """Per generated event: two leptons in the leading slots, pT > lead / sub, |eta| inside,
    the requested charge combination, and sr[0] < m_mumu < sr[1] (``mass``, default the first
    globals_extra column, M_ll in the anomaly variant)."""
    x, mask = to_numpy(table.column("x")), to_numpy(table.column("x_mask")).astype(bool)
    if mass is None:
        mass = to_numpy(table.column("globals_extra"))[:, 0]
    leptons = mask[:, :2].all(1) & (x[:, :2, IS_LEPTON] > 0.5).all(1)
    charge = x[:, 0, CHARGE] * x[:, 1, CHARGE]
    sign = charge < 0 if cuts.opposite_sign else charge > 0
    return (
        leptons
        & sign
        & (x[:, 0, PT] > cuts.lead_pt_gev)
        & (x[:, 1, PT] > cuts.sub_pt_gev)
        & (np.abs(x[:, :2, ETA]) < cuts.max_abs_eta).all(1)
        & (mass > sr[0])
        & (mass < sr[1])
    )


def select(
    table: pa.Table, sr: tuple[float, float], cap: int | None, cuts: MuonCuts = MuonCuts()
) -> tuple[pa.Table, dict]:
    """The passing events (the first ``cap`` of them: the oversampled file holds more than
    needed) and the efficiency record (generated, passing, kept, efficiency)."""
    keep = passes(table, sr, cuts)
    rows = np.flatnonzero(keep)
    if cap is not None:
        rows = rows[:cap]
    record = {
        "generated": table.num_rows,
        "passing": int(keep.sum()),
        "kept": len(rows),
        "efficiency": float(keep.mean()) if table.num_rows else 0.0,
    }
    return table.take(pa.array(rows, pa.int64())), record
