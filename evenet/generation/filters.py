"""Generator-level event filters: keep only events that can pass an analysis selection, so
that rare final states cost fewer generated events. The filter's efficiency (Σ nominal weight
passing / Σ nominal weight tried) multiplies the sample's σ (evenet/generation/generate.py),
so the yield formula of evenet/generation/weights.py holds for the filtered sample.

The B-hadron filter counts weakly decaying B hadrons (the last B of each b quark's chain, the
ones a b-tagger sees) above a pT threshold inside |η| < max_abs_eta. The dimuon filter asks
for two final-state muons inside |η| < max_abs_eta whose leading two pass pT thresholds and
have an invariant mass below a maximum (the dimuon analysis's 17 / 8 GeV, m < 16 GeV).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evenet.errors import EvenetError

# Weakly decaying B hadrons in Pythia 8's particle table (B0, B+, Bs, Bc, Λb, Ξb0, Ξb−, Ωb):
# each b quark ends in exactly one of them (excited states decay strongly or radiatively).
WEAKLY_DECAYING_B = np.array([511, 521, 531, 541, 5122, 5132, 5232, 5332])
KEYS = ("min_count", "min_pt_gev", "max_abs_eta")


class FilterError(EvenetError, ValueError):
    """A filter block in the process catalogue is malformed."""


@dataclass(frozen=True)
class BHadronFilter:
    """At least ``min_count`` weakly decaying B hadrons with pT > ``min_pt_gev`` and
    |η| < ``max_abs_eta``."""

    min_count: int
    min_pt_gev: float = 0.0
    max_abs_eta: float = math.inf

    def passes(self, batch) -> np.ndarray:
        """Boolean mask over the events of a nextBatch (awkward) array."""
        import awkward as ak  # here: the catalogue (and so the CLI) loads without awkward

        prt = batch.prt
        px, py, pz = prt.p.px, prt.p.py, prt.p.pz
        pt = np.hypot(px, py)
        # |η| < max via |pz| < pT sinh(max): no division for particles along the beam.
        inside = abs(pz) < pt * math.sinh(min(self.max_abs_eta, 50.0))
        weak_b = np.isin(ak.to_numpy(ak.flatten(abs(prt.id))), WEAKLY_DECAYING_B)
        weak_b = ak.unflatten(weak_b, ak.num(prt.id))
        count = ak.sum(weak_b & (pt > self.min_pt_gev) & inside, axis=1)
        return ak.to_numpy(count) >= self.min_count

    def describe(self) -> str:
        return (
            f">= {self.min_count} weakly decaying B hadrons with pT > {self.min_pt_gev:g} GeV, "
            f"|eta| < {self.max_abs_eta:g}"
        )


def b_hadron_filter(values, where: str) -> BHadronFilter | None:
    """The filter of a catalogue entry's ``b_hadron_filter`` mapping (None when absent)."""
    if values is None:
        return None
    if isinstance(values, BHadronFilter):
        return values
    if not isinstance(values, dict) or set(values) - set(KEYS) or "min_count" not in values:
        raise FilterError(
            f"{where}: b_hadron_filter must be a mapping with min_count and optionally "
            f"min_pt_gev, max_abs_eta; got {values!r}"
        )
    try:
        result = BHadronFilter(
            min_count=int(values["min_count"]),
            min_pt_gev=float(values.get("min_pt_gev", 0.0)),
            max_abs_eta=float(values.get("max_abs_eta", math.inf)),
        )
    except (TypeError, ValueError) as error:
        raise FilterError(f"{where}: b_hadron_filter: {error}") from None
    if result.min_count < 1 or result.min_pt_gev < 0 or result.max_abs_eta <= 0:
        raise FilterError(f"{where}: b_hadron_filter needs min_count >= 1, cuts >= 0: {values!r}")
    return result


DIMUON_KEYS = ("lead_pt_gev", "sub_pt_gev", "max_abs_eta", "min_mass_gev", "max_mass_gev")


@dataclass(frozen=True)
class DimuonFilter:
    """The two leading final-state muons inside |η| < ``max_abs_eta`` (of those above
    ``sub_pt_gev``) have pT > ``lead_pt_gev`` / ``sub_pt_gev`` and a mass between
    ``min_mass_gev`` and ``max_mass_gev``; either charge combination (same-sign events are the
    analysis's control)."""

    lead_pt_gev: float
    sub_pt_gev: float
    max_abs_eta: float = 2.4
    min_mass_gev: float = 0.0
    max_mass_gev: float = math.inf

    def passes(self, batch) -> np.ndarray:
        import awkward as ak

        prt = batch.prt
        px, py, pz, e = prt.p.px, prt.p.py, prt.p.pz, prt.p.e
        pt = np.hypot(px, py)
        inside = abs(pz) < pt * math.sinh(min(self.max_abs_eta, 50.0))
        muon = (abs(prt.id) == 13) & (prt.status > 0) & inside & (pt > self.sub_pt_gev)
        order = ak.argsort(ak.where(muon, pt, -1.0), axis=1, ascending=False)
        count = ak.to_numpy(ak.sum(muon, axis=1))
        two = ak.to_numpy(ak.num(prt.id)) >= 2
        first, second = order[:, :1], order[:, 1:2]
        ok = (count >= 2) & two
        out = np.zeros(len(count), bool)
        if not ok.any():
            return out

        def pick(values, index):
            return ak.to_numpy(ak.firsts(values[index][ok]))

        lead_pt = pick(pt, first)
        total = [pick(v, first) + pick(v, second) for v in (e, px, py, pz)]
        mass2 = total[0] ** 2 - total[1] ** 2 - total[2] ** 2 - total[3] ** 2
        mass = np.sqrt(np.maximum(mass2, 0.0))
        in_window = (mass > self.min_mass_gev) & (mass < self.max_mass_gev)
        out[ok] = (lead_pt > self.lead_pt_gev) & in_window
        return out

    def describe(self) -> str:
        return (
            f"two muons with pT > {self.lead_pt_gev:g} / {self.sub_pt_gev:g} GeV, "
            f"|eta| < {self.max_abs_eta:g}, {self.min_mass_gev:g} < m < {self.max_mass_gev:g} GeV"
        )


def dimuon_filter(values, where: str) -> DimuonFilter | None:
    """The filter of a catalogue entry's ``dimuon_filter`` mapping (None when absent)."""
    if values is None:
        return None
    if isinstance(values, DimuonFilter):
        return values
    required = {"lead_pt_gev", "sub_pt_gev"}
    if not isinstance(values, dict) or set(values) - set(DIMUON_KEYS) or required - set(values):
        raise FilterError(
            f"{where}: dimuon_filter must be a mapping with lead_pt_gev, sub_pt_gev and "
            f"optionally max_abs_eta, min_mass_gev, max_mass_gev; got {values!r}"
        )
    try:
        result = DimuonFilter(
            lead_pt_gev=float(values["lead_pt_gev"]),
            sub_pt_gev=float(values["sub_pt_gev"]),
            max_abs_eta=float(values.get("max_abs_eta", 2.4)),
            min_mass_gev=float(values.get("min_mass_gev", 0.0)),
            max_mass_gev=float(values.get("max_mass_gev", math.inf)),
        )
    except (TypeError, ValueError) as error:
        raise FilterError(f"{where}: dimuon_filter: {error}") from None
    if min(result.lead_pt_gev, result.sub_pt_gev) < 0 or result.max_abs_eta <= 0:
        raise FilterError(f"{where}: dimuon_filter needs pT cuts >= 0 and max_abs_eta > 0")
    return result


class AllOf:
    """Events passing every one of several filters."""

    def __init__(self, filters):
        self.filters = tuple(filters)

    def passes(self, batch) -> np.ndarray:
        keep = self.filters[0].passes(batch)
        for other in self.filters[1:]:
            keep &= other.passes(batch)
        return keep

    def describe(self) -> str:
        return " and ".join(f.describe() for f in self.filters)


def event_filter(process):
    """The generator-level filter of a catalogue process (None: every event is kept)."""
    filters = [f for f in (process.b_hadron_filter, process.dimuon_filter) if f is not None]
    if not filters:
        return None
    return filters[0] if len(filters) == 1 else AllOf(filters)
