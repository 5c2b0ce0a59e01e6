"""Pairing purity of interchangeable two-body resonances, with SPANet's evaluator definitions
(for H → aa → bb̄bb̄: a1 ↔ a2 and b1 ↔ b2 are symmetries).

A resonance is *reconstructable* when both its true daughters are objects of the event (slots
≥ 0). Among events with at least one reconstructable resonance: the **event purity** is the
share whose every reconstructable resonance is predicted exactly (the same two slots, in any
order, by any predicted resonance: the a1 ↔ a2 swap is right), reported for all of them and
split by the number of reconstructable resonances ("1a", "2a", ... with their proportions); the
**particle purity** is the share of reconstructable resonances predicted exactly. Written here
because SPANet's evaluator is not a library call.
"""

from __future__ import annotations

import numpy as np

from evenet.errors import EvenetError


class PurityError(EvenetError, ValueError):
    """Predicted and true pairs do not have the same shape."""


def pair_purity(predicted: np.ndarray, truth: np.ndarray) -> dict:
    """``predicted``, ``truth``: (n, R, 2) object slots (-1: none). Returns event_purity,
    particle_purity, events (with ≥ 1 reconstructable resonance), resonances, and per category
    k = 1..R: {"fraction", "events", "event_purity"} under the key f"{k}a"."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    if predicted.shape != truth.shape or truth.ndim != 3 or truth.shape[2] != 2:
        raise PurityError(f"need (n, R, 2) pairs, got {predicted.shape} and {truth.shape}")
    reconstructable = (truth >= 0).all(-1)  # (n, R)
    pred_sorted = np.sort(predicted, -1)
    truth_sorted = np.sort(truth, -1)
    # found[i, r]: some predicted pair of event i equals true pair r as a set
    same = (pred_sorted[:, None, :, :] == truth_sorted[:, :, None, :]).all(-1)  # (n, R, R')
    found = reconstructable & same.any(-1)
    counts = reconstructable.sum(1)
    has_any = counts > 0
    correct = (found == reconstructable).all(1) & has_any
    out = {
        "events": int(has_any.sum()),
        "resonances": int(reconstructable.sum()),
        "event_purity": float(correct[has_any].mean()) if has_any.any() else float("nan"),
        "particle_purity": (
            float(found.sum() / reconstructable.sum()) if reconstructable.any() else float("nan")
        ),
    }
    for k in range(1, truth.shape[1] + 1):
        mine = counts == k
        out[f"{k}a"] = {
            "events": int(mine.sum()),
            "fraction": float(mine.sum() / has_any.sum()) if has_any.any() else float("nan"),
            "event_purity": float(correct[mine].mean()) if mine.any() else float("nan"),
        }
    return out
