"""The background plan: the planned counts reach the target N_eff, with the fewest events."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.haa.pilot import background_neff, pilot_rows, plan


def _rows():
    manifest = {
        "processes": {"2": {"category": "signal"}, "23": {"category": "background"}},
        "samples": {
            "sig": {"process": [2], "xsec_pb": 2.0, "sum_weights": 100.0, "events": 100},
            "low": {
                "process": [23],
                "xsec_pb": 700.0,  # after the filter: 1000 pb x 0.7
                "sum_weights": 700.0,
                "generated": 1000,
                "events": 700,
            },
            "high": {
                "process": [23],
                "xsec_pb": 10.0,
                "sum_weights": 900.0,
                "generated": 1000,
                "events": 900,
            },
        },
    }
    cutflow = [
        {"sample": s, "events": n, "weighted": float(n), "n_eff": float(n)}
        for s, n in (("sig", 20), ("low", 2), ("high", 30))
    ]
    return pilot_rows(manifest, cutflow)


def test_pilot_rows_hold_selected_cross_sections():
    rows = {r["sample"]: r for r in _rows()}
    assert rows["low"]["selected_xsec_pb"] == pytest.approx(700.0 * 2 / 700)
    assert rows["high"]["category"] == "background" and rows["sig"]["category"] == "signal"


def test_planned_counts_reach_the_target_with_the_fewest_events():
    """Guards the allocation: the planned counts give exactly the target N_eff, and moving
    events between slices (same total) only lowers it."""
    rows = _rows()
    planned = plan(rows, target_neff=5000.0, test_fraction=0.1)
    assert set(planned) == {"low", "high"}
    sigma = np.array([1000.0, 10.0 * 1000 / 900])
    eps = np.array([2 / 1000, 30 / 1000])
    n = np.array([planned["low"]["events"], planned["high"]["events"]], float)
    assert background_neff(sigma, eps, n, 0.1) == pytest.approx(5000.0, rel=1e-3)
    for shift in (-0.5 * n[1], 0.5 * n[1]):
        moved = np.array([n[0] + shift, n[1] - shift])
        assert background_neff(sigma, eps, moved, 0.1) < 5000.0


def test_a_slice_without_selected_events_uses_the_upper_limit():
    rows = _rows()
    rows[1]["selected"] = 0
    planned = plan(rows, 5000.0, 0.1)
    assert planned["low"]["upper_limit"] and planned["low"]["efficiency"] == pytest.approx(3e-3)


def test_a_large_training_size_scales_the_plan_up():
    """Guards the second requirement: 10^5 selected background training events need more
    events than the N_eff target alone; the shares stay those of the N_eff optimum."""
    rows = _rows()
    by_neff = plan(rows, 500.0, 0.1)
    by_size = plan(rows, 500.0, 0.1, train_fraction=0.8, train_background=1e5)
    eps = {k: v["efficiency"] for k, v in by_size.items()}
    assert sum(0.8 * by_size[k]["events"] * eps[k] for k in eps) == pytest.approx(1e5, rel=1e-4)
    assert by_size["low"]["limited_by"] == "training size"
    ratio = by_size["low"]["events"] / by_neff["low"]["events"]
    assert by_size["high"]["events"] / by_neff["high"]["events"] == pytest.approx(ratio, rel=1e-3)
