"""Pairing purity with SPANet's definitions: symmetric swaps are right, one wrong slot is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from evenet.stats.purity import PurityError, pair_purity

TRUTH = [[0, 1], [2, 3]]


def test_swaps_are_right_and_one_wrong_slot_is_wrong():
    """Guards the symmetries a1 <-> a2 and b1 <-> b2 and the exactness of a pair."""
    truth = np.array([TRUTH] * 4)
    predicted = np.array(
        [
            [[0, 1], [2, 3]],  # exact
            [[3, 2], [1, 0]],  # both swaps
            [[0, 1], [2, 4]],  # one wrong slot
            [[0, 2], [1, 3]],  # the wrong pairing of the right four jets
        ]
    )
    result = pair_purity(predicted, truth)
    assert result["event_purity"] == 0.5
    assert result["particle_purity"] == pytest.approx(5 / 8)  # 2 + 2 + 1 + 0 of 8 pairs
    assert result["2a"] == {"events": 4, "fraction": 1.0, "event_purity": 0.5}


def test_categories_and_unreconstructable_resonances():
    """Guards the 1a / 2a split: a resonance with a missing daughter is neither counted nor
    required; events without any reconstructable resonance are left out."""
    truth = np.array([[[0, 1], [-1, 3]], [[0, 1], [2, 3]], [[-1, -1], [-1, 2]]])
    predicted = np.array([[[1, 0], [4, 5]], [[0, 1], [2, 5]], [[0, 1], [2, 3]]])
    result = pair_purity(predicted, truth)
    assert result["events"] == 2 and result["resonances"] == 3
    assert result["1a"] == {"events": 1, "fraction": 0.5, "event_purity": 1.0}
    assert result["2a"] == {"events": 1, "fraction": 0.5, "event_purity": 0.0}
    assert result["event_purity"] == 0.5 and result["particle_purity"] == pytest.approx(2 / 3)
    with pytest.raises(PurityError, match=r"\(n, R, 2\)"):
        pair_purity(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)))
