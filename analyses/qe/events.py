"""The test-split events of the qe analysis with everything the reconstructions and the
unfolding read: reco objects as four-vectors, the selection, truth pairing and neutrinos, and
the parton-level tops and leptons.

Four-vectors are (E, px, py, pz) in GeV, as `evenet.physics`. The test split is halved by
``event % 2``: half A (even) builds responses and efficiencies, half B (odd) is pseudo-data.
Events without the `ttbar_dilepton` topology (no tops in `partons`) are dropped and counted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from analyses.qe.selection import (
    BTAG,
    CHARGE,
    ETA,
    LEPTON,
    PHI,
    PT,
    TOPOLOGY,
    Selected,
    SelectionError,
    check_finite,
    select,
    topology_entry,
)
from analyses.qe.selection import E as ENERGY
from evenet.io.predictions import load, to_numpy

HALF_A, HALF_B = 0, 1
COLUMNS = (
    "x",
    "x_mask",
    "globals",
    "partons",
    "partons_mask",
    "assignment",
    "neutrinos",
    "neutrinos_mask",
    "topology",
    "weight",
)
# Indices into `globals` (evenet.io.schema.GLOBAL_FEATURES) and into `neutrinos` features.
MET, MET_PHI = 0, 1
NU_PT, NU_ETA, NU_PHI = 0, 1, 2
_ = (BTAG, CHARGE, LEPTON)  # the selection's feature indices, re-exported for the methods


def four_vectors(pt, eta, phi, mass) -> np.ndarray:
    """(..., 4) (E, px, py, pz) from pT, η, φ, m (GeV)."""
    pt, eta, phi, mass = (np.asarray(a, dtype=np.float64) for a in (pt, eta, phi, mass))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    return np.stack([energy, px, py, pz], axis=-1)


def object_four_vectors(x: np.ndarray) -> np.ndarray:
    """(n, 18, 4) four-vectors of the converted objects: their stored E with pT, η, φ."""
    x = np.asarray(x, dtype=np.float64)
    pt, phi = x[..., PT], x[..., PHI]
    return np.stack(
        [x[..., ENERGY], pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(x[..., ETA])], axis=-1
    )


def neutrino_four_vectors(features: np.ndarray) -> np.ndarray:
    """(..., 4) massless four-vectors of (..., 3) neutrino (pT, η, φ)."""
    f = np.asarray(features, dtype=np.float64)
    return four_vectors(f[..., NU_PT], f[..., NU_ETA], f[..., NU_PHI], 0.0)


@dataclass(frozen=True)
class Partons:
    """Parton-level tops and charged leptons (n, 4) of every event."""

    top: np.ndarray
    antitop: np.ndarray
    lepton_plus: np.ndarray
    lepton_minus: np.ndarray

    @property
    def mtt(self) -> np.ndarray:
        p = self.top + self.antitop
        return np.sqrt(np.maximum(p[:, 0] ** 2 - (p[:, 1:] ** 2).sum(1), 0.0))


@dataclass(frozen=True)
class SplitEvents:
    """The test split's tt̄ events (n of them) and what every method needs."""

    sample: np.ndarray  # (n,) str
    run: np.ndarray  # (n,) int64
    event: np.ndarray  # (n,) int64
    weight: np.ndarray  # (n,) generator weights over their mean (unweighted tt̄: all 1)
    objects: np.ndarray  # (n, 18, 4) four-vectors of the converted objects
    is_jet: np.ndarray  # (n, 18) bool: a real, non-lepton object
    met_x: np.ndarray
    met_y: np.ndarray
    selection: Selected
    truth_assignment: np.ndarray  # (n, 2, 2) slots [[b, ℓ⁺], [b̄, ℓ⁻]], -1 unmatched
    truth_neutrinos: np.ndarray  # (n, 2, 4) (ν, ν̄) four-vectors
    partons: Partons
    dropped: int  # test events without the tt̄ topology
    split: np.ndarray | None = None  # (n,) int8 split code (0 train, 1 val, 2 test)

    @property
    def half(self) -> np.ndarray:
        return np.where(self.event % 2 == 0, HALF_A, HALF_B)

    @property
    def selected(self) -> np.ndarray:
        return self.selection.passed

    @property
    def matchable(self) -> np.ndarray:
        """All four truth indices (both b and both leptons) found among the objects."""
        return (self.truth_assignment >= 0).all(axis=(1, 2))

    def __len__(self) -> int:
        return len(self.event)


def load_test_events(
    dataset: str | os.PathLike, split: str | tuple[str, ...] = "test"
) -> SplitEvents:
    """The events of one split (default the test split) or of several, of a converted qe
    dataset."""
    entry = topology_entry(dataset)
    splits = [split] if isinstance(split, str) else list(split)
    table = load(None, dataset, columns=COLUMNS, splits=splits)
    keep = table["topology"].to_numpy() == entry["id"]
    if not keep.any():
        raise SelectionError(
            f"no {split} event of {dataset} has the {TOPOLOGY} topology: analyses.qe.dataset "
            "must hold dileptonic tt̄ (the sample ttbar_dilepton)"
        )
    dropped = int((~keep).sum())
    table = table.filter(keep)
    x, x_mask = to_numpy(table["x"]), to_numpy(table["x_mask"]).astype(bool)
    partons, partons_mask = to_numpy(table["partons"]), to_numpy(table["partons_mask"])
    check_finite(x, partons, partons_mask, dataset)
    names = entry["partons"]
    vectors = {
        name: four_vectors(*(partons[:, names.index(name), k] for k in range(4)))
        for name in ("t1", "t2", "l1", "l2")
    }
    weight = table["weight"].to_numpy().astype(np.float64)
    globals_ = to_numpy(table["globals"]).astype(np.float64)
    met, met_phi = globals_[:, MET], globals_[:, MET_PHI]
    neutrinos = neutrino_four_vectors(to_numpy(table["neutrinos"]))
    neutrinos_mask = to_numpy(table["neutrinos_mask"]).astype(bool)
    neutrinos = np.where(neutrinos_mask[..., None], neutrinos, np.nan)
    lepton = x_mask & (x[..., LEPTON] > 0.5)
    return SplitEvents(
        sample=np.asarray(table["sample"].to_pylist(), dtype=object),
        run=table["run"].to_numpy().astype(np.int64),
        event=table["event"].to_numpy().astype(np.int64),
        weight=weight / weight.mean(),
        objects=object_four_vectors(x),
        is_jet=x_mask & ~lepton,
        met_x=met * np.cos(met_phi),
        met_y=met * np.sin(met_phi),
        selection=select(x, x_mask),
        truth_assignment=to_numpy(table["assignment"])[:, :2, :2].astype(np.int64),
        truth_neutrinos=neutrinos,
        partons=Partons(vectors["t1"], vectors["t2"], vectors["l1"], vectors["l2"]),
        dropped=dropped,
        split=table["split"].to_numpy().astype(np.int8),
    )


def pick(objects: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """(n, 4) four-vectors of one slot per event (NaN where the slot is -1)."""
    rows = np.arange(len(objects))
    chosen = objects[rows, np.maximum(slots, 0)]
    return np.where((slots >= 0)[:, None], chosen, np.nan)
