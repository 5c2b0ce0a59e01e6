"""Hard-process truth record (GenPart) from a flat event record, vectorised.

GenPart holds the particles of the hardest subprocess and its resonance decays
(|status| 22–29: t, W, Z, H, a, b, ℓ, ν, …; incoming partons excluded), plus particles
with |pdgId| in the process's ``truth_pdg_ids`` (e.g. Υ states decayed at hadron level)
together with their decay products. Mothers point inside GenPart (−1 when outside).

Kinematics: resonances use their last copy (the one that decays, after shower recoil),
quarks, gluons, leptons and photons their first copy (as produced in the hard decay).
"""

from __future__ import annotations

import numpy as np

from evenet.generation.particles import FlatParticles
from evenet.physics import kinematics as kin

# Partons and leptons keep first-copy kinematics; everything else is a resonance.
_FIRST_COPY_IDS = np.array([1, 2, 3, 4, 5, 11, 12, 13, 14, 15, 16, 21, 22])
_MAX_WALK = 64  # longest copy chain / ancestry walk followed


def _last_copies(p: FlatParticles, start: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Follow carbon copies (daughter1 == daughter2, same id) down; also return the chain."""
    current = start.copy()
    chain = [current.copy()]
    for _ in range(_MAX_WALK):
        d1, d2 = p.daughter1[current], p.daughter2[current]
        candidate = p.offsets[p.event[current]] + np.maximum(d1, 0)
        is_copy = (d1 > 0) & (d1 == d2) & (p.pid[candidate] == p.pid[current])
        if not is_copy.any():
            break
        current = np.where(is_copy, candidate, current)
        chain.append(current.copy())
    return current, chain


def _daughters(p: FlatParticles, parents: np.ndarray) -> np.ndarray:
    """Flat indices of the daughters (daughter1..daughter2) of each parent."""
    d1, d2 = p.daughter1[parents], p.daughter2[parents]
    n = np.where((d1 > 0) & (d2 >= d1), d2 - d1 + 1, 0)
    parent = np.repeat(np.arange(len(parents)), n)
    within = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    return p.offsets[p.event[parents[parent]]] + d1[parent] + within


def hard_process(p: FlatParticles, truth_pdg_ids=()) -> dict[str, np.ndarray]:
    """Flat GenPart arrays (event-sorted) with local mother indices."""
    status = np.abs(p.status)
    selected = (status >= 22) & (status <= 29)
    if len(truth_pdg_ids):
        extra = np.isin(np.abs(p.pid), np.asarray(truth_pdg_ids))
        mother = p.offsets[p.event] + np.maximum(p.mother1, 0)
        first = (p.mother1 <= 0) | (p.pid[mother] != p.pid)
        extra_first = np.flatnonzero(extra & first)
        selected[extra_first] = True
        last, _ = _last_copies(p, extra_first)
        selected[_daughters(p, last)] = True

    first = np.flatnonzero(selected)  # flat order = (event, record index)
    last, chain = _last_copies(p, first)
    gen_event = p.event[first]
    # GenPart index of each selected particle inside its event.
    counts = np.bincount(gen_event, minlength=p.n_events)
    gen_offsets = np.concatenate([[0], np.cumsum(counts)])
    gen_local = np.arange(len(first)) - gen_offsets[gen_event]

    # Map every copy in a chain to its GenPart entry, then walk mothers up to the list.
    owner = np.full(len(p.pid), -1, dtype=np.int64)
    for link in reversed(chain):
        owner[link] = gen_local
    mother = p.mother1[first].copy()
    result = np.full(len(first), -1, dtype=np.int64)
    open_ = mother > 0
    for _ in range(_MAX_WALK):
        if not open_.any():
            break
        global_m = p.offsets[gen_event] + np.maximum(mother, 0)
        found = open_ & (owner[global_m] >= 0)
        result[found] = owner[global_m[found]]
        open_ &= ~found
        mother = np.where(open_, p.mother1[global_m], mother)
        open_ &= mother > 0

    source = np.where(np.isin(np.abs(p.pid[first]), _FIRST_COPY_IDS), first, last)
    px, py, pz = p.px[source], p.py[source], p.pz[source]
    return {
        "_event": gen_event,
        "pdgId": p.pid[first],
        "genPartIdxMother": result,
        "pt": kin.pt(px, py),
        "eta": kin.eta(px, py, pz),
        "phi": kin.phi(px, py),
        "mass": p.m[source],
    }
