"""The k-fold weakly supervised classifier on a toy where SR data hold a signal cluster."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from analyses.anomaly.classifier import Settings, folds_of, score_data


def _background(rng, n):
    return np.column_stack(
        [rng.exponential(20.0, n), rng.exponential(0.01, n), rng.exponential(0.01, n)]
    )


def test_every_data_event_gets_an_out_of_fold_score_that_finds_the_signal():
    rng = np.random.default_rng(0)
    n_sr, n_sb, n_signal = 2000, 3000, 300
    signal = np.column_stack([rng.normal(60, 5, n_signal), rng.exponential(0.002, (n_signal, 2))])
    data = np.vstack([_background(rng, n_sr), signal, _background(rng, n_sb)])
    in_sr = np.r_[np.ones(n_sr + n_signal, bool), np.zeros(n_sb, bool)]
    is_signal = np.r_[np.zeros(n_sr, bool), np.ones(n_signal, bool), np.zeros(n_sb, bool)]
    samples = _background(rng, 6000)  # generated SR background
    settings = Settings(folds=5, ensemble=2, n_estimators=60)
    data_folds = folds_of(range(len(data)), 5)
    sample_folds = folds_of(range(len(samples)), 5, salt=1)
    assert all(np.bincount(data_folds, minlength=5) > 0.15 * len(data))
    sample_scores = np.full(len(samples), np.nan)
    scores = score_data(data, data_folds, in_sr, samples, sample_folds, settings, sample_scores)
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    assert np.isfinite(sample_scores).all()
    # the ROC check: SR background looks like the samples, the signal does not
    background_sr = in_sr & ~is_signal
    check = roc_auc_score(
        np.r_[np.ones(background_sr.sum()), np.zeros(len(samples))],
        np.r_[scores[background_sr], sample_scores],
    )
    assert abs(check - 0.5) < 0.05
    sr = in_sr
    assert roc_auc_score(is_signal[sr], scores[sr]) > 0.8
    # background in the SR and the SB look alike to the classifier (no mass, no sculpting)
    background_sr, background_sb = scores[sr & ~is_signal], scores[~sr]
    assert abs(np.median(background_sr) - np.median(background_sb)) < 0.05


def test_folds_are_fixed_by_the_event_identity():
    keys = [("data", 1, e) for e in range(100)]
    np.testing.assert_array_equal(folds_of(keys, 5), folds_of(list(reversed(keys)), 5)[::-1])
    assert not np.array_equal(folds_of(keys, 5), folds_of(keys, 5, salt=1))


def test_classifier_inputs_by_name():
    from analyses.anomaly.classifier import classifier_inputs

    features = np.array([[50.0, 0.01, 0.02], [30.0, 0.03, 0.04]])
    mass = np.array([10.0, 6.0])
    np.testing.assert_allclose(classifier_inputs(features, mass), features)
    chosen = classifier_inputs(features, mass, ["dimuon_pt_over_mass", "mu1_ip3d"])
    np.testing.assert_allclose(chosen, [[5.0, 0.02], [5.0, 0.04]])
    with pytest.raises(ValueError, match="unknown classifier inputs"):
        classifier_inputs(features, mass, ["mass"])
