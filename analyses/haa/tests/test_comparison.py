"""The pretrained-vs-scratch comparison: metrics that can be checked by hand."""

from __future__ import annotations

import math

import numpy as np

from analyses.haa.comparison import markdown, pairs_correct, rejection_at, summarise


def test_pairs_correct_respects_both_symmetries_and_nothing_more():
    """Guards the a1 <-> a2 and b <-> b-bar symmetries of the pairing purity, and a wrong
    pairing of the same four jets counted as right."""
    truth = np.array([[[0, 1], [2, 3]]] * 4)
    predicted = np.array(
        [
            [[0, 1], [2, 3]],  # identical
            [[3, 2], [1, 0]],  # both symmetries applied
            [[0, 2], [1, 3]],  # same jets, wrong pairs
            [[0, 1], [2, 5]],  # one wrong jet
        ]
    )
    assert pairs_correct(predicted, truth).tolist() == [True, True, False, False]


def test_rejection_at_quarter_signal_efficiency():
    """Guards 1/eps_B: of 4 signal events the best one (0.9) passes at eps_S = 25%, and 1 of
    the 8 background events scores above it: 1/eps_B = 8; none above: infinite."""
    labels = np.array([1, 1, 1, 1] + [0] * 8)
    scores = np.array([0.9, 0.5, 0.4, 0.3, 0.95, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert rejection_at(labels, scores, 0.25) == 8.0
    assert math.isinf(rejection_at(labels, np.where(labels == 1, 1.0, 0.0), 0.25))


def test_summary_averages_seeds_per_mode_and_size():
    """Guards the seed spread (sample standard deviation) and the size ordering of the table."""

    def run(mode, size, seed, auc):
        metric = {"value": auc, "bootstrap_std": 0.01}
        metrics = {"auc": metric, "rejection_at_25": metric, "pairing_purity": metric}
        return {"mode": mode, "size": size, "seed": seed, "metrics": metrics, "path": "p"}

    runs = [run("scratch", "all", "1", 0.6), run("scratch", "all", "2", 0.7)]
    runs += [run("pretrained", "1000", "1", 0.5)]
    for r in runs:
        r["metrics"]["bootstrap"] = {"resamples": 200, "seed": 0}
    summary = summarise(runs)
    assert [(r["size"], r["mode"]) for r in summary] == [("1000", "pretrained"), ("all", "scratch")]
    assert math.isclose(summary[1]["auc"]["mean"], 0.65)
    assert math.isclose(summary[1]["auc"]["seed_std"], np.std([0.6, 0.7], ddof=1))
    assert summary[0]["auc"]["seed_std"] is None
    assert "| all | scratch | 1,2 | 0.650 ± 0.071" in markdown(summary, runs)
