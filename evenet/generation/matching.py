"""One-to-one ΔR matching of reconstructed objects to GenPart partons, vectorised.

Greedy in ascending ΔR over padded (event, object, parton) matrices: the globally
closest pair of each event is matched first, its row and column removed, and so on.
"""

from __future__ import annotations

import numpy as np

from evenet.physics import kinematics as kin

JET_PARTON_IDS = np.array([1, 2, 3, 4, 5, 21])


def _pad(event: np.ndarray, n_events: int, values: np.ndarray, fill: float):
    counts = np.bincount(event, minlength=n_events)
    width = int(counts.max()) if len(counts) and counts.max() > 0 else 0
    offsets = np.concatenate([[0], np.cumsum(counts)])
    slot = np.arange(len(event)) - offsets[event]
    out = np.full((n_events, width), fill, dtype=np.float64)
    out[event, slot] = values
    return out, slot


def greedy_match(distance: np.ndarray, max_distance: float) -> np.ndarray:
    """(events, A, B) distances (inf = not allowed) -> (events, A) index into B or −1."""
    n_events, n_a, n_b = distance.shape
    result = np.full((n_events, n_a), -1, dtype=np.int64)
    if n_a == 0 or n_b == 0:
        return result
    d = distance.copy()
    rows = np.arange(n_events)
    for _ in range(min(n_a, n_b)):
        flat = d.reshape(n_events, -1)
        best = np.argmin(flat, axis=1)
        ok = flat[rows, best] < max_distance
        if not ok.any():
            break
        a, b = best // n_b, best % n_b
        result[rows[ok], a[ok]] = b[ok]
        d[rows[ok], a[ok], :] = np.inf
        d[rows[ok], :, b[ok]] = np.inf
    return result


def match(
    obj_event,
    obj_eta,
    obj_phi,
    gen_event,
    gen_eta,
    gen_phi,
    gen_allowed,
    gen_local,
    n_events: int,
    max_dr: float,
) -> np.ndarray:
    """For each object (flat, event-sorted) the local GenPart index it matches, or −1.

    ``gen_allowed`` marks the GenPart entries this object type may match; ``gen_local``
    is each entry's index within its event's GenPart list.
    """
    if len(obj_event) == 0:
        return np.zeros(0, dtype=np.int32)
    gen_event, gen_eta, gen_phi = gen_event[gen_allowed], gen_eta[gen_allowed], gen_phi[gen_allowed]
    gen_local = gen_local[gen_allowed]
    o_eta, o_slot = _pad(obj_event, n_events, obj_eta, np.nan)
    o_phi, _ = _pad(obj_event, n_events, obj_phi, np.nan)
    g_eta, _ = _pad(gen_event, n_events, gen_eta, np.nan)
    g_phi, _ = _pad(gen_event, n_events, gen_phi, np.nan)
    g_local, _ = _pad(gen_event, n_events, gen_local.astype(np.float64), -1)
    if g_eta.shape[1] == 0:
        return np.full(len(obj_event), -1, dtype=np.int32)
    dr = kin.delta_r(o_eta[:, :, None], o_phi[:, :, None], g_eta[:, None, :], g_phi[:, None, :])
    dr = np.where(np.isnan(dr), np.inf, dr)
    best = greedy_match(dr, max_dr)[obj_event, o_slot]
    found = best >= 0
    out = np.full(len(obj_event), -1, dtype=np.int32)
    out[found] = g_local[obj_event[found], best[found]].astype(np.int32)
    return out


def leaf_partons(gen_mother: np.ndarray, gen_event: np.ndarray) -> np.ndarray:
    """GenPart entries that are nobody's mother (final decay products)."""
    n = len(gen_mother)
    is_mother = np.zeros(n, dtype=bool)
    has = gen_mother >= 0
    if has.any():
        offsets = np.concatenate([[0], np.cumsum(np.bincount(gen_event))])
        is_mother[offsets[gen_event[has]] + gen_mother[has]] = True
    return ~is_mother
