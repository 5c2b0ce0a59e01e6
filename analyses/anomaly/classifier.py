"""The weakly supervised classifier of the dimuon bump hunt (arXiv:2502.14036's `BDT.py` and
`configs/bdt.yml`): generated background samples (label 0) against signal-region data
(label 1) on dimuon pT and the two muons' ip3d (the mass is excluded), in k folds, so that
every data event is scored by models that never saw it.

Fold i is the test fold (SR and SB data), fold i - 1 the validation fold (early stopping), the
other folds train; the samples are split into the same folds. The classes get equal summed
weight. Each fold trains an ensemble of models with different seeds and averages their
scores.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

FEATURES = ("dimuon_pt", "mu0_ip3d", "mu1_ip3d")  # the reference's; what every model generates
# Inputs the classifier may use instead (weak_supervision.classifier.features): the generated
# features and functions of them and the mass. pT/m is a study option: where the selection
# ties pT to m (our detector's partner-muon isolation), pT itself sculpts the mass spectrum.
INPUTS = (*FEATURES, "dimuon_pt_over_mass")


def classifier_inputs(features: np.ndarray, mass: np.ndarray, names=FEATURES) -> np.ndarray:
    """The classifier's input columns ``names`` from FEATURES columns and the mass."""
    columns = {name: features[:, i] for i, name in enumerate(FEATURES)}
    columns["dimuon_pt_over_mass"] = columns["dimuon_pt"] / np.asarray(mass, dtype=np.float64)
    unknown = [n for n in names if n not in columns]
    if unknown:
        raise ValueError(f"unknown classifier inputs {unknown} (known: {', '.join(INPUTS)})")
    return np.column_stack([columns[n] for n in names])


@dataclass(frozen=True)
class Settings:
    folds: int = 5
    ensemble: int = 5  # models per fold (100 on Perlmutter)
    n_estimators: int = 300
    max_depth: int = 3
    learning_rate: float = 0.1
    subsample: float = 0.7
    early_stopping_rounds: int = 10
    seed: int = 0
    threads: int = 1


def folds_of(keys, folds: int, salt: int = 0) -> np.ndarray:
    """A fixed fold per event from its identity (any hashable key, e.g. (sample, run, event))."""
    return np.array([zlib.crc32(f"{salt}:{key}".encode()) % folds for key in keys], dtype=np.int64)


def _balanced(labels: np.ndarray) -> np.ndarray:
    """Per-event weights giving each class the same summed weight (mean 1)."""
    weights = np.ones(len(labels))
    for value in (0, 1):
        chosen = labels == value
        if chosen.any():
            weights[chosen] = 0.5 * len(labels) / chosen.sum()
    return weights


def score_data(
    data: np.ndarray,
    data_folds: np.ndarray,
    data_in_sr: np.ndarray,
    samples: np.ndarray,
    sample_folds: np.ndarray,
    settings: Settings = Settings(),
    sample_scores: np.ndarray | None = None,
) -> np.ndarray:
    """Out-of-fold scores of every data event (rows of ``data``: FEATURES). Training and
    validation use the SR data (label 1) and the samples (label 0) of their folds. Given an
    array ``sample_scores`` (len(samples)), it is filled with each sample's out-of-fold score
    too, for the ROC check of samples against SR data on events no model trained on."""
    import xgboost

    scores = np.full(len(data), np.nan)
    k = settings.folds
    for test in range(k):
        validation = (test - 1) % k
        train_data = data_in_sr & (data_folds != test) & (data_folds != validation)
        val_data = data_in_sr & (data_folds == validation)
        train_samples = (sample_folds != test) & (sample_folds != validation)
        val_samples = sample_folds == validation
        x_train = np.vstack([samples[train_samples], data[train_data]])
        y_train = np.r_[np.zeros(train_samples.sum()), np.ones(train_data.sum())]
        x_val = np.vstack([samples[val_samples], data[val_data]])
        y_val = np.r_[np.zeros(val_samples.sum()), np.ones(val_data.sum())]
        chosen = data_folds == test
        held_out = sample_folds == test
        total = np.zeros(chosen.sum())
        total_samples = np.zeros(held_out.sum())
        for member in range(settings.ensemble):
            model = xgboost.XGBClassifier(
                n_estimators=settings.n_estimators,
                max_depth=settings.max_depth,
                learning_rate=settings.learning_rate,
                subsample=settings.subsample,
                early_stopping_rounds=settings.early_stopping_rounds,
                eval_metric="logloss",
                tree_method="hist",
                random_state=settings.seed * 1000 + test * 100 + member,
                n_jobs=settings.threads,
            )
            model.fit(
                x_train,
                y_train,
                sample_weight=_balanced(y_train),
                eval_set=[(x_val, y_val)],
                sample_weight_eval_set=[_balanced(y_val)],
                verbose=False,
            )
            total += model.predict_proba(data[chosen])[:, 1]
            if sample_scores is not None and held_out.any():
                total_samples += model.predict_proba(samples[held_out])[:, 1]
        scores[chosen] = total / settings.ensemble
        if sample_scores is not None:
            sample_scores[held_out] = total_samples / settings.ensemble
    return scores
