"""XGBoost's event features for H → aa → 4b (issue 15), from the converted objects ``x``.

The four leading jets, b-tagged first and then by pT, are paired into two a candidates by the
pairing (of the three) that minimises |m₁₂ − m₃₄|. Features: m_a1 ≥ m_a2 (the pair masses,
ordered), m_4b and pT_4b, ΔR within each pair (in the a1, a2 order) and between the two pair
axes, the numbers of b-tagged jets and of jets, HT (scalar pT sum of all jets), and pT and η of
the four jets (in the b-tag-then-pT order). Four-vectors with `vector`.
"""

from __future__ import annotations

import numpy as np
import vector

ENERGY, PT, ETA, PHI, BTAG, LEPTON = 0, 1, 2, 3, 4, 5
# The three ways of splitting four jets into two pairs, as ((i, j), (k, l)) positions.
PAIRINGS = np.array([[[0, 1], [2, 3]], [[0, 2], [1, 3]], [[0, 3], [1, 2]]])
NAMES = (
    "m_a1",
    "m_a2",
    "m_4b",
    "pt_4b",
    "dr_a1",
    "dr_a2",
    "dr_aa",
    "n_btag",
    "n_jet",
    "ht",
    *(f"jet{k}_pt" for k in range(1, 5)),
    *(f"jet{k}_eta" for k in range(1, 5)),
)


def leading_jets(x: np.ndarray, x_mask: np.ndarray, count: int = 4) -> np.ndarray:
    """(E, count) slots of the leading jets, b-tagged first, then by pT; -1 where missing."""
    jets = np.asarray(x_mask, bool) & (x[..., LEPTON] < 0.5)
    tagged = jets & (x[..., BTAG] > 0.5)
    # Sort key: non-jets last, then tagged before untagged, then pT descending.
    key = np.where(jets, np.where(tagged, 0.0, 1.0), 2.0) * 1e9 - np.where(jets, x[..., PT], 0)
    order = np.argsort(key, axis=1, kind="stable")[:, :count]
    valid = np.take_along_axis(jets, order, axis=1)
    return np.where(valid, order, -1)


def _four_vectors(x: np.ndarray, slots: np.ndarray):
    picked = np.take_along_axis(x, np.maximum(slots, 0)[..., None], axis=1)
    return vector.array(
        {
            "pt": picked[..., PT],
            "eta": picked[..., ETA],
            "phi": picked[..., PHI],
            "energy": picked[..., ENERGY],
        }
    )


def pair_jets(x: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """(E, 2, 2) x-slots of the (a1, a2) pairs minimising |m₁₂ − m₃₄| among the four jets in
    ``slots`` (E, 4); a1 is the heavier pair. Events with fewer than four jets get -1."""
    jets = _four_vectors(x, slots)
    best = np.zeros(len(x), dtype=np.int64)
    masses = []
    for (i, j), (k, m) in PAIRINGS:
        masses.append((jets[:, i] + jets[:, j]).mass - (jets[:, k] + jets[:, m]).mass)
    best = np.argmin(np.abs(np.stack(masses, axis=1)), axis=1)
    positions = PAIRINGS[best]  # (E, 2, 2) positions 0..3
    first_heavier = np.take_along_axis(np.stack(masses, axis=1), best[:, None], 1)[:, 0] >= 0
    positions = np.where(first_heavier[:, None, None], positions, positions[:, ::-1])
    pairs = np.take_along_axis(slots[:, None, :].repeat(2, 1), positions, axis=2)
    complete = (slots >= 0).all(axis=1)
    return np.where(complete[:, None, None], pairs, -1)


def features(x: np.ndarray, x_mask: np.ndarray) -> np.ndarray:
    """(E, len(NAMES)) float32 features; NaN where an event has fewer than four jets."""
    x = np.asarray(x, dtype=np.float64)
    jets = np.asarray(x_mask, bool) & (x[..., LEPTON] < 0.5)
    slots = leading_jets(x, x_mask)
    pairs = pair_jets(x, slots)
    a1 = _four_vectors(x, pairs[:, 0])
    a2 = _four_vectors(x, pairs[:, 1])
    sum_a1, sum_a2 = a1[:, 0] + a1[:, 1], a2[:, 0] + a2[:, 1]
    total = sum_a1 + sum_a2
    four = _four_vectors(x, slots)
    columns = [
        sum_a1.mass,
        sum_a2.mass,
        total.mass,
        total.pt,
        a1[:, 0].deltaR(a1[:, 1]),
        a2[:, 0].deltaR(a2[:, 1]),
        sum_a1.deltaR(sum_a2),
        (jets & (x[..., BTAG] > 0.5)).sum(1),
        jets.sum(1),
        np.where(jets, x[..., PT], 0.0).sum(1),
        *(four[:, k].pt for k in range(4)),
        *(four[:, k].eta for k in range(4)),
    ]
    out = np.stack([np.asarray(c, dtype=np.float64) for c in columns], axis=1)
    out[(slots < 0).any(axis=1)] = np.nan  # XGBoost treats NaN as missing
    return out.astype(np.float32)
