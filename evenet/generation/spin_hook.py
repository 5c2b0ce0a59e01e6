"""Pythia user hook giving tt̄ decays their LO spin correlations (PHYSICS.md §3).

Pythia decays t and t̄ independently. After the hard process and its resonance decays,
and before any showering, the hook accepts the event with probability
w = (1 − l̂⁺ᵀ C l̂⁻)/2, where l̂± are the spin-analyser directions: the charged lepton or
down-type antiquark from W⁺ (t side) and the charged lepton or down-type quark from W⁻
(t̄ side), all with spin-analysing power ±1 at LO. Events whose tops cannot be read
(no tt̄ pair, unusual initial state) are accepted with the mean probability 1/2, so
every channel keeps its relative rate and σ_before_veto = σ_Pythia / acceptance.
"""

from __future__ import annotations

import numpy as np
import pythia8mc

from evenet.physics.spin import GLUON_GLUON, QUARK_ANTIQUARK, acceptance_probability

# Down-type fermions (charged leptons, d, s, b) carry spin-analysing power 1 at LO.
_DOWN_TYPE = {1, 3, 5, 11, 13, 15}


def _four_vector(particle) -> np.ndarray:
    return np.array([particle.e(), particle.px(), particle.py(), particle.pz()])


def _analyser(process, w_index: int, sign: int):
    """Down-type daughter of the W at ``w_index``: antifermion for W⁺ (sign +1), fermion for W⁻."""
    w = process[w_index]
    for i in range(w.daughter1(), w.daughter2() + 1):
        pid = process[i].id()
        if abs(pid) in _DOWN_TYPE and np.sign(pid) == -sign:
            return process[i]
    return None


def _top_system(process):
    """(initial state, t, t̄, analyser⁺, analyser⁻) from a process record, or None."""
    incoming = [process[i].id() for i in range(process.size()) if process[i].status() == -21]
    tops = {}
    for i in range(process.size()):
        pid = process[i].id()
        if abs(pid) == 6 and pid not in tops:
            tops[pid] = i
    if 6 not in tops or -6 not in tops or len(incoming) != 2:
        return None
    if incoming == [21, 21]:
        initial = GLUON_GLUON
    elif incoming[0] == -incoming[1] and 0 < abs(incoming[0]) <= 5:
        initial = QUARK_ANTIQUARK
    else:
        return None
    analysers = []
    for pid, sign in ((6, +1), (-6, -1)):
        top = process[tops[pid]]
        w_index = next(
            (i for i in range(top.daughter1(), top.daughter2() + 1)
             if process[i].id() == 24 * sign),
            None,
        )
        if w_index is None:
            return None
        analyser = _analyser(process, w_index, sign)
        if analyser is None:
            return None
        analysers.append(analyser)
    return (
        initial,
        _four_vector(process[tops[6]]),
        _four_vector(process[tops[-6]]),
        _four_vector(analysers[0]),
        _four_vector(analysers[1]),
    )


class SpinCorrelationHook(pythia8mc.UserHooks):
    """Process-level veto implementing the LO accept/reject; counts tries and accepts."""

    def __init__(self, rndm):
        pythia8mc.UserHooks.__init__(self)
        self._rndm = rndm  # Pythia's own generator: the seed reproduces the vetoes too
        self.tried = 0
        self.accepted = 0

    def canVetoProcessLevel(self):  # noqa: N802 (Pythia's name)
        return True

    def doVetoProcessLevel(self, process):  # noqa: N802 (Pythia's name)
        self.tried += 1
        system = _top_system(process)
        probability = 0.5 if system is None else float(acceptance_probability(*system))
        keep = self._rndm.flat() < probability
        self.accepted += int(keep)
        return not keep

    @property
    def acceptance(self) -> float:
        return self.accepted / self.tried if self.tried else 1.0
