"""Generator-level event filters: keep only events that can pass an analysis selection, so
that rare final states cost fewer generated events. The filter's efficiency (Σ nominal weight
passing / Σ nominal weight tried) multiplies the sample's σ (evenet/generation/generate.py),
so the yield formula of evenet/generation/weights.py holds for the filtered sample.

The B-hadron filter counts weakly decaying B hadrons (the last B of each b quark's chain, the
ones a b-tagger sees) above a pT threshold inside |η| < max_abs_eta.
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
