"""Event weights: the generator's nominal weight times the branching fractions of forced decays.

Convention (Runs tree): the expected yield of event i at luminosity L is
L · xsec_pb · weight_i / genEventSumw. Biased phase space (PhaseSpace:bias2Selection) and
LHE weights come from Pythia. Forcing a decay (``onMode = off`` + ``onIfAny``) is not
reflected by Pythia; for the catalogue's ``forced_decays`` ids every decayed occurrence
multiplies the weight by the natural branching fraction of the channels left open, and
xsec_pb is scaled by Σ weight / Σ nominal weight, so the formula above stays right.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from evenet.generation.particles import FlatParticles


def nominal_weights(batch: ak.Array) -> np.ndarray:
    """Pythia's nominal weight per event (LHE XWGTUP with its sign, or the bias weight)."""
    return ak.to_numpy(ak.firsts(batch.info.weights)).astype(np.float64)


def open_fractions(pythia, pdg_ids) -> dict[int, tuple[float, float]]:
    """For each id, the fraction of its decay width left open: (particle, antiparticle).

    Pythia's tables need not sum to one (it renormalises when decaying), hence the ratio.
    """
    fractions = {}
    for pid in pdg_ids:
        entry = pythia.particleData.particleDataEntryPtr(int(pid))
        channels = [entry.channel(i) for i in range(entry.sizeChannels())]
        total = sum(c.bRatio() for c in channels)
        if total <= 0:
            raise ValueError(f"forced_decays: particle {pid} has no decay channels")
        particle = sum(c.bRatio() for c in channels if c.onMode() in (1, 2)) / total
        antiparticle = sum(c.bRatio() for c in channels if c.onMode() in (1, 3)) / total
        fractions[int(pid)] = (particle, antiparticle)
    return fractions


def forced_decay_factor(p: FlatParticles, fractions: dict[int, tuple[float, float]]) -> np.ndarray:
    """Per event, the product of open fractions over every decay of a forced particle."""
    factor = np.ones(p.n_events)
    if not fractions:
        return factor
    ids = np.array(sorted(fractions))
    forced = np.flatnonzero(np.isin(np.abs(p.pid), ids) & (p.daughter1 > 0))
    first_daughter = p.offsets[p.event[forced]] + p.daughter1[forced]
    # A carbon copy (same id as its only daughter) has not decayed yet.
    decayed = forced[
        (p.pid[first_daughter] != p.pid[forced]) | (p.daughter2[forced] != p.daughter1[forced])
    ]
    lookup_particle = {pid: f[0] for pid, f in fractions.items()}
    lookup_anti = {pid: f[1] for pid, f in fractions.items()}
    pids = p.pid[decayed]
    values = np.array(
        [lookup_particle[i] if i > 0 else lookup_anti[-i] for i in pids.tolist()], dtype=np.float64
    )
    with np.errstate(divide="ignore"):
        log_factor = np.bincount(p.event[decayed], np.log(values), minlength=p.n_events)
    return np.exp(log_factor)
