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

import math

import pythia8mc

from evenet.physics.spin import GLUON_GLUON, QUARK_ANTIQUARK

# Down-type fermions (charged leptons, d, s, b) carry spin-analysing power 1 at LO.
_DOWN_TYPE = {1, 3, 5, 11, 13, 15}


def _four_vector(particle) -> tuple[float, float, float, float]:
    return (particle.e(), particle.px(), particle.py(), particle.pz())


def _boost(p, frame):
    """Scalar twin of kinematics.boost_to_rest_frame (numpy costs ~1 ms per event here)."""
    bx, by, bz = frame[1] / frame[0], frame[2] / frame[0], frame[3] / frame[0]
    b2 = bx * bx + by * by + bz * bz
    gamma = 1.0 / math.sqrt(1.0 - b2)
    bp = bx * p[1] + by * p[2] + bz * p[3]
    g2 = (gamma - 1.0) / b2 if b2 > 0.0 else 0.0
    k = g2 * bp - gamma * p[0]
    return (gamma * (p[0] - bp), p[1] + k * bx, p[2] + k * by, p[3] + k * bz)


def _unit(v):
    norm = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    return (v[0] / norm, v[1] / norm, v[2] / norm)


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def acceptance_scalar(initial, top, antitop, plus, minus) -> float:
    """w = (1 − l̂⁺ᵀ C l̂⁻)/2 for one event, plain floats (evenet.physics.spin has the
    vectorised definition this must agree with; a test checks they do)."""
    ttbar = tuple(a + b for a, b in zip(top, antitop, strict=True))
    top_cm, antitop_cm = _boost(top, ttbar), _boost(antitop, ttbar)
    lp = _unit(_boost(_boost(plus, ttbar), top_cm)[1:])
    lm = _unit(_boost(_boost(minus, ttbar), antitop_cm)[1:])
    k = _unit(top_cm[1:])
    c = k[2]  # cos Θ = p̂·k̂ with p̂ = +z
    s2 = max(1.0 - c * c, 1e-300)
    r = ((-c * k[0]) / math.sqrt(s2), (-c * k[1]) / math.sqrt(s2), (1.0 - c * k[2]) / math.sqrt(s2))
    n = (r[1] * k[2] - r[2] * k[1], r[2] * k[0] - r[0] * k[2], r[0] * k[1] - r[1] * k[0])
    p3 = math.sqrt(_dot(top_cm[1:], top_cm[1:]))
    b2 = (p3 / top_cm[0]) ** 2
    s4, root, sin2 = s2 * s2, math.sqrt(max(1.0 - b2, 0.0)), 2.0 * math.sqrt(s2) * c
    if initial == GLUON_GLUON:
        a = 1.0 + 2.0 * b2 * s2 - b2 * b2 * (1.0 + s4)
        kk = -(1.0 - 2.0 * b2 * s2 * c * c - b2 * b2 * (1.0 + s4))
        rr = -(1.0 - b2 * (2.0 - b2) * (1.0 + s4))
        nn = -(1.0 - 2.0 * b2 + b2 * b2 * (1.0 + s4))
        rk = b2 * root * s2 * sin2
    else:
        a = 2.0 - b2 * s2
        kk, rr, nn, rk = 2.0 - (2.0 - b2) * s2, (2.0 - b2) * s2, -b2 * s2, root * sin2
    pk, pr, pn = _dot(lp, k), _dot(lp, r), _dot(lp, n)
    mk, mr, mn = _dot(lm, k), _dot(lm, r), _dot(lm, n)
    contraction = (kk * pk * mk + rr * pr * mr + nn * pn * mn + rk * (pr * mk + pk * mr)) / a
    return min(max(0.5 * (1.0 - contraction), 0.0), 1.0)


def _analyser(process, w_index: int, sign: int):
    """Down-type daughter of the W at ``w_index``: antifermion for W⁺ (sign +1), fermion for W⁻."""
    w = process[w_index]
    for i in range(w.daughter1(), w.daughter2() + 1):
        pid = process[i].id()
        if abs(pid) in _DOWN_TYPE and (pid > 0) == (sign < 0):
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
            (
                i
                for i in range(top.daughter1(), top.daughter2() + 1)
                if process[i].id() == 24 * sign
            ),
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

    def canVetoProcessLevel(self):  # Pythia names the method
        return True

    def doVetoProcessLevel(self, process):  # Pythia names the method
        self.tried += 1
        system = _top_system(process)
        probability = 0.5 if system is None else acceptance_scalar(*system)
        keep = self._rndm.flat() < probability
        self.accepted += int(keep)
        return not keep

    @property
    def acceptance(self) -> float:
        return self.accepted / self.tried if self.tried else 1.0
