"""Flat views of a nextBatch event record and particle classification by PDG id.

nextBatch returns awkward arrays of events; the detector works on flat numpy arrays of
all particles of the batch plus per-event offsets, which keeps every step vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from evenet.physics import kinematics as kin

# Invisible to the detector: neutrinos and the lightest neutralino (MET only).
INVISIBLE_PDG_IDS = np.array([12, 14, 16, 1000022, 1000012, 1000014, 1000016])


@dataclass
class FlatParticles:
    """Every particle of a batch, flattened; ``offsets[i]:offsets[i+1]`` is event i."""

    offsets: np.ndarray
    event: np.ndarray  # event index of each particle
    pid: np.ndarray
    status: np.ndarray
    mother1: np.ndarray  # local (within-event) indices, as in Pythia
    daughter1: np.ndarray
    daughter2: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    m: np.ndarray
    vx: np.ndarray  # production vertex, mm
    vy: np.ndarray
    vz: np.ndarray

    @property
    def n_events(self) -> int:
        return len(self.offsets) - 1

    @property
    def pt(self) -> np.ndarray:
        return kin.pt(self.px, self.py)

    @property
    def eta(self) -> np.ndarray:
        return kin.eta(self.px, self.py, self.pz)

    @property
    def phi(self) -> np.ndarray:
        return kin.phi(self.px, self.py)

    def to_global(self, local: np.ndarray, event: np.ndarray | None = None) -> np.ndarray:
        """Local record indices of particles (of events ``event``) to flat indices."""
        return self.offsets[self.event if event is None else event] + local


def flatten_batch(batch: ak.Array) -> FlatParticles:
    prt = batch.prt
    counts = ak.to_numpy(ak.num(prt.id)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])

    def flat(array, dtype=np.float64):
        return ak.to_numpy(ak.flatten(array, axis=1)).astype(dtype, copy=False)

    # Particles without a production vertex have vProd = None: they start at the origin.
    vertex = prt.vProd
    return FlatParticles(
        offsets=offsets,
        event=np.repeat(np.arange(len(counts)), counts),
        pid=flat(prt.id, np.int64),
        status=flat(prt.status, np.int64),
        mother1=flat(prt.mother1, np.int64),
        daughter1=flat(prt.daughter1, np.int64),
        daughter2=flat(prt.daughter2, np.int64),
        px=flat(prt.p.px),
        py=flat(prt.p.py),
        pz=flat(prt.p.pz),
        e=flat(prt.p.e),
        m=flat(prt.m),
        vx=flat(ak.fill_none(vertex.px, 0.0)),
        vy=flat(ak.fill_none(vertex.py, 0.0)),
        vz=flat(ak.fill_none(vertex.pz, 0.0)),
    )


def _quark_digits(pid: np.ndarray):
    a = np.abs(pid) % 10000
    return a // 1000, (a // 100) % 10, (a // 10) % 10


def is_hadron(pid: np.ndarray) -> np.ndarray:
    a = np.abs(pid)
    _, _, n3 = _quark_digits(pid)
    # Hadrons carry ids 100..999999 with a nonzero third quark digit (diquarks have n3 = 0).
    return (a > 100) & (a < 1_000_000) & (n3 > 0)


def has_flavour(pid: np.ndarray, quark: int) -> np.ndarray:
    """Open-flavour hadron containing ``quark`` (4 = c, 5 = b) as its heaviest quark.

    Quarkonia (cc̄, bb̄) are excluded: they are not flavour-tagged jet constituents.
    """
    n1, n2, n3 = _quark_digits(pid)
    heaviest = np.maximum(np.maximum(n1, n2), n3)
    quarkonium = (n1 == 0) & (n2 == quark) & (n3 == quark)
    return is_hadron(pid) & (heaviest == quark) & ~quarkonium
