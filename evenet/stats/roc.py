"""Weighted ROC figures of merit for the classification analyses (PHYSICS.md §4): AUC,
background rejection 1/ε_B at a signal efficiency (linear interpolation along the ROC), the
maximum significance improvement ε_S/√ε_B over cuts whose passing background is not a
handful of weighted events, and bootstrap spreads.

The curve itself is `sklearn.metrics.roc_curve` with sample weights; what sklearn does not
offer (interpolated rejection, the N_eff guard on the SIC, the resampling) is written here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import roc_curve

from evenet.errors import EvenetError

_TRAPEZOID = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz


class RocError(EvenetError, ValueError):
    """The labels, scores or weights cannot make a ROC curve."""


def _check(labels, scores, weights):
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=float)
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    if not (len(labels) == len(scores) == len(weights)):
        raise RocError("labels, scores and weights need one entry per event")
    if not labels.any() or labels.all():
        raise RocError("a ROC curve needs signal and background events")
    if not (np.isfinite(scores).all() and np.isfinite(weights).all()):
        raise RocError("scores and weights must be finite")
    return labels, scores, weights


def curve(labels, scores, weights=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ε_B, ε_S, thresholds) of every distinct cut score > t, weighted."""
    labels, scores, weights = _check(labels, scores, weights)
    fpr, tpr, thresholds = roc_curve(labels, scores, sample_weight=weights, drop_intermediate=False)
    return fpr, tpr, thresholds


def auc(labels, scores, weights=None) -> float:
    """Area under the weighted ROC curve (trapezoids through every cut, as roc_auc_score; it
    refuses curves that negative weights make non-monotonic, which this integrates)."""
    fpr, tpr, _ = curve(labels, scores, weights)
    return float(_TRAPEZOID(tpr, fpr))


def rejection(labels, scores, efficiency: float, weights=None) -> float:
    """1/ε_B at signal efficiency ``efficiency``, ε_B interpolated linearly in ε_S between the
    ROC points around it (inf where no background passes)."""
    fpr, tpr, _ = curve(labels, scores, weights)
    # Where several points share one ε_S, the first (lowest ε_B) is the best cut for it.
    tpr_unique, first = np.unique(tpr, return_index=True)
    eps_b = float(np.interp(efficiency, tpr_unique, fpr[first]))
    # Weighted cumulative sums leave ~1e-17 where no background passes: that is zero.
    return float("inf") if eps_b <= 1e-12 else 1.0 / eps_b


def max_sic(labels, scores, weights=None, min_neff: float = 25.0) -> float:
    """max ε_S/√ε_B over cuts "score ≥ t" whose passing background has
    (Σw)²/Σw² ≥ ``min_neff`` (NaN when no cut qualifies)."""
    labels, scores, weights = _check(labels, scores, weights)
    order = np.argsort(-scores, kind="stable")
    s, w, lab = scores[order], weights[order], labels[order]
    last = np.r_[s[1:] != s[:-1], True]  # the end of each group of equal scores
    sig_w = np.cumsum(np.where(lab, w, 0.0))[last]
    bkg_w = np.cumsum(np.where(lab, 0.0, w))[last]
    bkg_w2 = np.cumsum(np.where(lab, 0.0, w * w))[last]
    eps_s = sig_w / sig_w[-1]
    eps_b = bkg_w / bkg_w[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        neff = np.where(bkg_w2 > 0, bkg_w**2 / bkg_w2, 0.0)
        sic = np.where(eps_b > 0, eps_s / np.sqrt(eps_b), 0.0)
    allowed = neff >= min_neff
    return float(sic[allowed].max()) if allowed.any() else float("nan")


def passing_background_neff(labels, scores, efficiency: float, weights=None) -> float:
    """(Σw)²/Σw² of the background passing the loosest cut "score ≥ t" that keeps at least
    ``efficiency`` of the signal: how many background events a 1/ε_B there rests on."""
    labels, scores, weights = _check(labels, scores, weights)
    order = np.argsort(-scores[labels], kind="stable")
    signal, signal_w = scores[labels][order], weights[labels][order]
    reached = np.cumsum(signal_w) >= efficiency * signal_w.sum() * (1 - 1e-12)
    cut = signal[np.argmax(reached)]
    passing = weights[~labels & (scores >= cut)]
    sum_w2 = float(np.sum(passing**2))
    return float(np.sum(passing) ** 2 / sum_w2) if sum_w2 > 0 else 0.0


def bootstrap(
    statistic: Callable[[np.ndarray], float], n_events: int, n_boot: int, seed: int
) -> np.ndarray:
    """``statistic(indices)`` over ``n_boot`` resamples of the events with replacement (one
    seeded generator: the same seed gives the same resamples)."""
    rng = np.random.default_rng(seed)
    return np.array([statistic(rng.integers(0, n_events, n_events)) for _ in range(n_boot)])
