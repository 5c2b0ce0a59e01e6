"""Bump hunts after a weakly supervised classifier (arXiv:2502.14036, `07_significances.py`).

* Cut and count: for a false-positive rate F, the cut keeps the fraction F of the sideband
  (SB) test events with the highest scores; the same cut applies in the signal region (SR),
  and the bump hunt is refitted on what passes.
* Likelihood reweighting: from the uncut fit's mu = S / (S + B), each event weighs
  w = (r - (1 - mu)) / mu with r = s / (1 - s) the classifier's likelihood ratio, clipped to
  [0, 1e9] (a background-like score weighs 0), and the weighted bump hunt runs on every event.
"""

from __future__ import annotations

import numpy as np

from evenet.stats.bumphunt import BumpHuntError, bump_hunt

MAX_WEIGHT = 1e9


def in_sidebands(mass: np.ndarray, sr: tuple[float, float], sb: tuple[float, float]) -> np.ndarray:
    mass = np.asarray(mass)
    return ((mass >= sb[0]) & (mass < sr[0])) | ((mass > sr[1]) & (mass <= sb[1]))


def fpr_cut(sideband_scores: np.ndarray, fpr: float) -> float:
    """The score threshold (keep score >= it) passing the fraction ``fpr`` of the sideband
    events: round(fpr * N) of them, the highest scoring (ties can keep more)."""
    scores = np.sort(np.asarray(sideband_scores, dtype=np.float64))[::-1]
    if len(scores) == 0:
        raise BumpHuntError("no sideband events to set the FPR cut on")
    if not 0 < fpr <= 1:
        raise BumpHuntError(f"FPR must be in (0, 1], got {fpr}")
    keep = max(int(round(fpr * len(scores))), 1)
    return float(scores[keep - 1])


def cut_and_count(mass: np.ndarray, score: np.ndarray, fprs, **window) -> list[dict]:
    """One bump hunt per FPR on the events passing its cut (``window``: bump_hunt's sr, sb,
    sr_edges, degree, minimizer). Each result also holds fpr, the cut and the measured
    sideband FPR."""
    mass, score = np.asarray(mass, dtype=np.float64), np.asarray(score, dtype=np.float64)
    sr, sb = window.get("sr", (9.0, 10.6)), window.get("sb", (5.0, 16.0))
    sideband = in_sidebands(mass, sr, sb)
    results = []
    for fpr in fprs:
        cut = fpr_cut(score[sideband], fpr)
        passing = score >= cut
        result = bump_hunt(mass[passing], **window)
        measured = float(passing[sideband].mean())
        results.append({"fpr": float(fpr), "cut": cut, "fpr_measured": measured, **result})
    return results


def reweighting_weights(score: np.ndarray, mu: float) -> np.ndarray:
    """w = (s / (1 - s) - (1 - mu)) / mu, clipped to [0, 1e9]."""
    if not 0 < mu <= 1:
        raise BumpHuntError(f"mu = S / (S + B) must be in (0, 1] to reweight, got {mu:.4g}")
    score = np.asarray(score, dtype=np.float64)
    with np.errstate(divide="ignore"):
        ratio = score / (1.0 - score)
    return np.clip((ratio - (1.0 - mu)) / mu, 0.0, MAX_WEIGHT)


def reweighted(mass: np.ndarray, score: np.ndarray, **window) -> dict:
    """The likelihood-reweighted bump hunt: mu from the uncut fit, then the weighted fit on
    every event. A fit without a positive S has nothing to reweight towards: Z = 0."""
    uncut = bump_hunt(mass, **window)
    mu = uncut["s"] / (uncut["s"] + uncut["b"]) if uncut["s"] > 0 else 0.0
    if mu <= 0:
        return {**uncut, "mu": 0.0, "significance": 0.0, "reweighted": False}
    weights = reweighting_weights(score, mu)
    return {**bump_hunt(mass, weights, **window), "mu": mu, "reweighted": True}
