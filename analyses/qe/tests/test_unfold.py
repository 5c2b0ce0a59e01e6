"""The qe unfolding on synthetic events: bins, exact closure, correlated errors, toys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyses.qe import unfold as U
from analyses.qe.reconstruction import OBSERVABLES
from evenet.physics import spin

MTT_MAX = 400.0


def _synthetic(n: int, seed: int, k: int = 2, twins: bool = False):
    """Parton and reco tables: n events, truth observables built from lepton directions
    (so cc_ab = cos+_a cos-_b and cos φ = Σ_a cc_aa hold event by event), K smeared samples
    per selected event. ``twins``: odd events copy the even one before them (half B = half A)."""
    rng = np.random.default_rng(seed)
    base = n // 2 if twins else n

    def directions(m):
        v = rng.normal(size=(m, 3))
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    plus, minus = directions(base), directions(base)
    mtt = 340 + rng.exponential(120, base)
    selected = rng.uniform(size=base) < 0.5 + 0.2 * plus[:, 0]
    noise = [rng.normal(0, 0.25, size=(base, k, 3)) for _ in range(2)]
    mtt_noise = rng.normal(0, 60, size=(base, k))
    if twins:
        take = np.repeat(np.arange(base), 2)
        plus, minus, mtt, selected = plus[take], minus[take], mtt[take], selected[take]
        noise = [a[take] for a in noise]
        mtt_noise = mtt_noise[take]

    def table(p, m):
        out = {}
        for i, a in enumerate(spin.AXES):
            out[f"cos_plus_{a}"] = p[..., i]
            out[f"cos_minus_{a}"] = m[..., i]
            for j, b in enumerate(spin.AXES):
                out[f"cc_{a}{b}"] = p[..., i] * m[..., j]
        out["cos_phi"] = (p * m).sum(-1)
        return out

    events = np.arange(n)
    parton = pd.DataFrame(
        {
            "sample": "tt",
            "run": 1,
            "event": events,
            "half": (events % 2).astype(np.int8),
            "selected": selected,
            "weight": 1.0,
            "mtt": mtt,
            **table(plus, minus),
        }
    )
    rows = np.repeat(np.flatnonzero(selected), k)
    smear = [
        np.clip(d[:, None, :] + e, -1, 1)[selected].reshape(-1, 3)
        for d, e in zip((plus, minus), noise, strict=True)
    ]
    smear = [v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1.0) for v in smear]
    reco = pd.DataFrame(
        {
            "sample": "tt",
            "run": 1,
            "event": events[rows],
            "half": (events[rows] % 2).astype(np.int8),
            "k": np.tile(np.arange(k), int(selected.sum())),
            "weight": 1.0 / k,
            "mtt": (mtt[:, None] + mtt_noise)[selected].reshape(-1),
            **table(*smear),
        }
    )
    return parton, reco


def test_bins_cover_both_regions_and_the_edges():
    """Guards the 2 x 8 binning: x = ±1 inside, m_tt = mtt_max in the upper region."""
    bins = U.bin_index(np.array([399.9, 400.0, 500, 300]), np.array([-1.0, 1.0, 0.01, -0.01]), 400)
    assert bins.tolist() == [0, 15, 12, 3]


def test_coefficients_match_the_physics_definitions():
    """Guards the linear map: the factors give spin.coefficients of the same means."""
    rng = np.random.default_rng(1)
    means = {o: float(rng.uniform(-0.3, 0.3)) for o in OBSERVABLES}
    reference = spin.coefficients(means)
    zero = {o: np.zeros(1) for o in OBSERVABLES}
    ours = U.combine(U.COEFFICIENTS, means, zero, np.ones(1))
    for name, (value, _) in ours.items():
        assert value == pytest.approx(reference[name], abs=1e-12), name


def test_half_b_identical_to_half_a_closes_exactly():
    """Exact closure through the whole analysis path (K = 2 samples, inefficiency, m_tt
    migrations): when half B repeats half A event by event, every unfolded coefficient equals
    half B's parton value to 1e-9."""
    parton, reco = _synthetic(40_000, seed=2, twins=True)
    inputs = U.align(parton, reco, MTT_MAX)
    values, _ = U.unfold_all(inputs)
    region = (parton["half"] == 1).to_numpy() & (parton["mtt"] < MTT_MAX).to_numpy()
    truth = U.parton_level(parton, region)
    for name in U.COEFFICIENTS:
        assert values[name][0] == pytest.approx(truth[name][0], abs=1e-9), name
    # D two ways: tr C / 3 and -3<cos φ> agree event by event at parton level
    assert truth["D"][0] == pytest.approx(truth["D_phi"][0], abs=1e-12)


def test_correlated_error_of_d_matches_toys():
    """Guards D's error from the per-event influences (C_kk, C_rr, C_nn share events, and
    K samples share an event): 400 Poisson toys scatter D and D_phi as the analytic errors
    say, within 12% (the toy-std precision is 3.5%)."""
    parton, reco = _synthetic(60_000, seed=3)
    inputs = U.align(parton, reco, MTT_MAX)
    values, observables = U.unfold_all(inputs)
    lam = 4.0
    toys = U.toys(inputs, observables, lam, 400, seed=5)
    for name in ("D", "D_phi", "C_kk"):
        analytic = values[name][1] / np.sqrt(lam)
        assert np.std(toys[name], ddof=1) == pytest.approx(analytic, rel=0.12), name
        assert abs(np.mean(toys[name]) - values[name][0]) < 4 * analytic / np.sqrt(400) + 0.02


def test_bootstrap_closure_is_consistent():
    """Guards the bootstrap: resampling half B alone reproduces the analytic error (within
    30%, 60 resamples); resampling the response half too adds its statistics; half B unfolded
    lies within 3 sigma of its parton value."""
    parton, reco = _synthetic(40_000, seed=4)
    inputs = U.align(parton, reco, MTT_MAX)
    values, _ = U.unfold_all(inputs)
    region = (parton["half"] == 1).to_numpy() & (parton["mtt"] < MTT_MAX).to_numpy()
    truth = U.parton_level(parton, region)
    quantities = ("D_phi", "D")
    data_only = U.bootstrap_closure(inputs, 60, seed=6, quantities=quantities, response_too=False)
    both = U.bootstrap_closure(inputs, 60, seed=6, quantities=quantities)
    for name in quantities:
        sigma_data = np.nanstd(data_only[name], ddof=1)
        sigma = np.nanstd(both[name], ddof=1)
        print(f"{name}: analytic {values[name][1]:.4f}, data {sigma_data:.4f}, both {sigma:.4f}")
        assert sigma_data == pytest.approx(values[name][1], rel=0.3)
        assert sigma > sigma_data
        assert abs(values[name][0] - truth[name][0]) < 3 * sigma


def test_misaligned_or_broken_rows_are_refused():
    """Guards the clear errors: rows of another dataset, NaN observables."""
    parton, reco = _synthetic(2_000, seed=7)
    other = reco.copy()
    other.loc[0, "event"] = 10**9
    with pytest.raises(U.unfolding.UnfoldingError, match="no parton-level event"):
        U.align(parton, other, MTT_MAX)
    broken = reco.copy()
    broken.loc[3, "cos_phi"] = np.nan
    with pytest.raises(U.unfolding.UnfoldingError, match="NaN"):
        U.align(parton, broken, MTT_MAX)
