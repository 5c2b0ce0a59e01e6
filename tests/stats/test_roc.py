"""Weighted ROC figures of merit: hand-computed cases, interpolation, SIC guard, bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from evenet.stats.roc import (
    RocError,
    auc,
    bootstrap,
    curve,
    max_sic,
    passing_background_neff,
    rejection,
)


def test_weighted_roc_of_four_events_by_hand():
    """Guards the weights: signal (score, w) = (0.9, 1), (0.4, 3); background (0.6, 2),
    (0.1, 2). Cuts: > 0.9 nothing; >= 0.9: ε_S 1/4, ε_B 0; >= 0.6: 1/4, 1/2; >= 0.4: 1, 1/2;
    >= 0.1: 1, 1. AUC = P(s > b) weighted = (1·4 + 3·2) / (4 · 4) = 10/16."""
    labels = [1, 0, 1, 0]
    scores = [0.9, 0.6, 0.4, 0.1]
    weights = [1.0, 2.0, 3.0, 2.0]
    fpr, tpr, _ = curve(labels, scores, weights)
    assert list(zip(fpr, tpr, strict=True))[1:] == [(0, 0.25), (0.5, 0.25), (0.5, 1), (1, 1)]
    assert auc(labels, scores, weights) == pytest.approx(10 / 16)
    assert auc(labels, scores) == pytest.approx(3 / 4)  # unweighted: 3 of 4 pairs ordered


def test_rejection_interpolates_linearly_along_the_curve():
    """Guards the interpolation on a piecewise-linear toy: ROC points (ε_B, ε_S) = (0.1, 0.2)
    and (0.3, 0.6) give ε_B = 0.2 at ε_S = 0.4 exactly; the best of tied ε_S points is used."""
    # signal: 2 events at 0.9, 4 at 0.5, 4 at 0.1; background: 1 at 0.9, 2 at 0.5, 7 at 0.05
    labels = [1] * 10 + [0] * 10
    scores = [0.9] * 2 + [0.5] * 4 + [0.1] * 4 + [0.9] + [0.5] * 2 + [0.05] * 7
    assert rejection(labels, scores, 0.4) == pytest.approx(1 / 0.2)
    assert rejection(labels, scores, 0.2) == pytest.approx(1 / 0.1)
    assert rejection(labels, scores, 0.6) == pytest.approx(1 / 0.3)
    perfect = rejection([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1], 0.5)
    assert perfect == float("inf")


def test_passing_background_neff_counts_the_background_at_the_cut():
    """Guards which cut the N_eff belongs to: ε_S = 25% of four unit signal events is reached
    at score 0.8 (the first one); background above it: weights 1 and 3 -> N_eff 16/10; at
    ε_S = 50% (score 0.6) one more background event of weight 2 -> 36/14; the background
    event below every signal score never passes."""
    labels = [1, 1, 1, 1, 0, 0, 0, 0]
    scores = [0.8, 0.6, 0.3, 0.2, 0.9, 0.85, 0.7, 0.1]
    weights = [1, 1, 1, 1, 1, 3, 2, 5]
    assert passing_background_neff(labels, scores, 0.25, weights) == pytest.approx(16 / 10)
    assert passing_background_neff(labels, scores, 0.5, weights) == pytest.approx(36 / 14)
    assert passing_background_neff(labels, scores, 1.0, weights) == pytest.approx(36 / 14)


def test_max_sic_respects_the_background_statistics_guard():
    """Guards the N_eff guard: the best cut keeps 1 background event (SIC 1/√0.01 · 0.5 = 5)
    but N_eff = 1 < 25; the best allowed cut keeps 25 unit-weight background events."""
    labels = np.r_[np.ones(100), np.zeros(100)]
    scores = np.r_[np.linspace(0.5, 1.0, 100), np.linspace(0.0, 0.6, 100)]
    loose = max_sic(labels, scores, min_neff=1)
    guarded = max_sic(labels, scores, min_neff=25)
    assert guarded < loose
    order = np.sort(scores[100:])[::-1]
    threshold = order[24]  # the 25th highest background score
    eps_s = (scores[:100] >= threshold).mean()
    assert guarded == pytest.approx(eps_s / np.sqrt(0.25))
    assert np.isnan(max_sic(labels, scores, min_neff=1000))


def test_bootstrap_width_falls_as_one_over_sqrt_n():
    """Guards the resampling: the spread of a mean of N unit-variance values is 1/√N."""
    rng = np.random.default_rng(3)
    widths = []
    for n in (400, 1600):
        values = rng.normal(size=n)
        widths.append(np.std(bootstrap(lambda i, v=values: v[i].mean(), n, 400, seed=1)))
    assert widths[0] == pytest.approx(1 / 20, rel=0.15)
    assert widths[0] / widths[1] == pytest.approx(2.0, rel=0.2)


def test_unusable_inputs_are_refused():
    with pytest.raises(RocError, match="signal and background"):
        auc([1, 1], [0.2, 0.3])
    with pytest.raises(RocError, match="one entry per event"):
        rejection([1, 0], [0.2], 0.5)
    with pytest.raises(RocError, match="finite"):
        max_sic([1, 0], [np.nan, 0.1])
