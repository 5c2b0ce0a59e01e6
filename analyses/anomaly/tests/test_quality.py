"""The quality selection of generated events reads what `evenet sample` writes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from analyses.anomaly.quality import MuonCuts, passes, select


def _table(rows):
    """Point-cloud columns of events from (pt0, pt1, eta0, q0, q1, lepton1, mass)."""
    n = len(rows)
    x = np.zeros((n, 18, 7), np.float32)
    mask = np.zeros((n, 18), bool)
    mass = np.zeros((n, 3), np.float32)
    for i, (pt0, pt1, eta0, q0, q1, lepton1, m) in enumerate(rows):
        x[i, 0] = [pt0, pt0, eta0, 0, 0, 1, q0]
        x[i, 1] = [pt1, pt1, 0.0, 1, 0, lepton1, q1]
        mask[i, :2] = True
        mass[i, 0] = m
    flat = pa.FixedSizeListArray.from_arrays
    return pa.table(
        {
            "x": flat(flat(pa.array(x.ravel()), 7), 18),
            "x_mask": flat(pa.array(mask.ravel()), 18),
            "globals_extra": flat(pa.array(mass.ravel()), 3),
        }
    )


def test_generated_events_pass_as_data_would():
    table = _table(
        [
            (30, 10, 0.0, 1, -1, 1, 9.5),  # passes
            (30, 10, 0.0, 1, 1, 1, 9.5),  # same sign
            (16, 10, 0.0, 1, -1, 1, 9.5),  # leading pT below 17
            (30, 7, 0.0, 1, -1, 1, 9.5),  # subleading below 8
            (30, 10, 2.5, 1, -1, 1, 9.5),  # outside |eta| < 2.4
            (30, 10, 0.0, 1, -1, 0, 9.5),  # second object not a muon
            (30, 10, 0.0, 1, -1, 1, 11.0),  # outside the SR
        ]
    )
    sr = (9.0, 10.6)
    assert passes(table, sr).tolist() == [True, False, False, False, False, False, False]
    control = passes(table, sr, MuonCuts(opposite_sign=False))
    assert control.tolist() == [False, True, False, False, False, False, False]
    kept, record = select(table, sr, cap=None)
    assert kept.num_rows == 1 and record["efficiency"] == pytest.approx(1 / 7)
    _, capped = select(_table([(30, 10, 0.0, 1, -1, 1, 9.5)] * 5), sr, cap=3)
    assert (capped["passing"], capped["kept"]) == (5, 3)
