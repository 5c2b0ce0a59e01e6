"""AUC, MMD and coverage tell identical distributions from shifted ones."""

from __future__ import annotations

import numpy as np

from analyses.anomaly.generation_metrics import classifier_auc, coverage, mmd


def test_metrics_separate_a_faithful_from_a_shifted_generator():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(4000, 4))
    faithful = rng.normal(size=(4000, 4))
    shifted = rng.normal(size=(4000, 4)) + np.array([0.5, 0, 0, 0])
    narrow = 0.5 * rng.normal(size=(4000, 4))  # mode collapse: fewer real events covered

    auc_same, _ = classifier_auc(real, faithful)
    auc_shift, _ = classifier_auc(real, shifted)
    assert abs(auc_same - 0.5) < 0.04 and auc_shift > 0.6

    mmd_same, err_same = mmd(real, faithful)
    mmd_shift, _ = mmd(real, shifted)
    assert abs(mmd_same) < 3 * err_same + 1e-3 and mmd_shift > 10 * max(abs(mmd_same), 1e-3)

    cov_same, _ = coverage(real, faithful)
    cov_narrow, _ = coverage(real, narrow)
    assert abs(cov_same - (1 - np.exp(-1))) < 0.05 and cov_narrow < cov_same - 0.1
