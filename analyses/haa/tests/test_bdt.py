"""The XGBoost baseline: early stopping where the validation split allows it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from analyses.haa.bdt import n_parameters, train


def _table(n: int, signal_fraction: float, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < signal_fraction).astype(np.int64)
    x = np.zeros((n, 18, 7), np.float32)
    x[:, :5, 1] = rng.uniform(30, 80, (n, 5)) + 30 * label[:, None]  # signal: harder jets
    x[:, :5, 2] = rng.uniform(-2, 2, (n, 5))
    x[:, :5, 3] = rng.uniform(-3, 3, (n, 5))
    x[:, :5, 0] = x[:, :5, 1] * np.cosh(x[:, :5, 2]) + 1.0
    x[:, :4, 4] = 1.0
    mask = np.zeros((n, 18), bool)
    mask[:, :5] = True
    return pa.table(
        {
            "x": pa.FixedShapeTensorArray.from_numpy_ndarray(x),
            "x_mask": pa.FixedShapeTensorArray.from_numpy_ndarray(mask.astype(np.uint8)),
            "label": pa.array(label),
            "train_weight": pa.array(np.ones(n)),
        }
    )


def test_early_stopping_uses_validation_and_is_off_without_both_classes():
    """Guards the local-scale fallback: a validation split without signal cannot stop early
    (XGBoost would fail); the note says so and every tree is kept."""
    training = _table(400, 0.3, 1)
    model, note = train(training, _table(100, 0.3, 2), signal=1, seed=1, threads=1)
    assert note == "on the validation split"
    model_off, note_off = train(training, _table(20, 0.0, 3), signal=1, seed=1, threads=1)
    assert note_off.startswith("off") and "0 signal" in note_off
    assert n_parameters(model_off) >= n_parameters(model) > 0
