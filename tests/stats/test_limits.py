"""Expected limits with pyhf: the physics dependences and the bin merging."""

from __future__ import annotations

import numpy as np
import pytest

from evenet.stats.limits import LimitError, expected_limit, merge_bins

SIGNAL = np.array([1.0, 2.0, 5.0, 10.0, 20.0])
BACKGROUND = np.array([400.0, 200.0, 100.0, 50.0, 20.0])
SUMW2 = BACKGROUND / 4  # MC with four times the data statistics


def test_limit_falls_with_more_signal_and_rises_with_background_uncertainty():
    """Guards the model: doubling the signal halves the limit on μ (roughly) and a larger
    background normalisation uncertainty weakens it; the band is ordered."""
    base = expected_limit(SIGNAL, BACKGROUND, SUMW2)
    assert base.minus2 < base.minus1 < base.median < base.plus1 < base.plus2
    doubled = expected_limit(2 * SIGNAL, BACKGROUND, SUMW2)
    assert doubled.median == pytest.approx(base.median / 2, rel=0.1)
    looser = expected_limit(SIGNAL, BACKGROUND, SUMW2, norm_uncertainty=0.6)
    assert looser.median > base.median
    assert not base.at_bound


def test_a_limit_at_the_bound_is_flagged():
    """Guards the report "> bound": a signal too small for μ ≤ 1 to matter."""
    weak = expected_limit(SIGNAL * 1e-3, BACKGROUND, SUMW2, bound=2.0)
    assert weak.at_bound


def test_bins_merge_from_the_high_score_end():
    """Guards the merging: empty or poorly known background bins join their neighbours
    until the relative MC error is below 30%; the low-end remainder joins the lowest group."""
    background = np.array([50.0, 0.5, 0.0, 30.0, 0.2, 0.1])
    sumw2 = np.array([25.0, 0.25, 0.0, 9.0, 0.04, 0.01])
    edges = merge_bins(background, sumw2, 0.3)
    assert edges == [0, 3, 6]  # [50, .5, 0] and [30, .2, .1]
    with pytest.raises(LimitError, match="empty"):
        merge_bins(np.zeros(3), np.zeros(3))
    # three unit-weight events: 1/sqrt(3) = 58% relative error even merged into one bin
    with pytest.raises(LimitError, match="58% even in one bin"):
        merge_bins(np.ones(3), np.ones(3))
    with pytest.raises(LimitError, match="signal histogram is empty"):
        expected_limit(np.zeros(5), BACKGROUND, SUMW2)
