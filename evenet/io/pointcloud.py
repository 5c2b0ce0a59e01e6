"""Point clouds from RecoEvents: object selection, ordering, x / x_mask / x_extra / globals.

Order (DESIGN.md): leptons by pT, then jets by pT; at most 18 objects, so above 18 all
leptons (up to 18) come first, then the leading jets. ``globals`` count every object that
passes the thresholds, also those beyond slot 18. All kinematics run on awkward arrays with
vector; no Python loop per event.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np
import vector

from evenet.io.events import RecoEvents
from evenet.io.schema import GLOBAL_FEATURES, N_OBJECTS, OBJECT_FEATURES

vector.register_awkward()

KIND_JET, KIND_MUON, KIND_ELECTRON = 0, 1, 2


@dataclass
class PointClouds:
    """Fixed-shape arrays of one chunk, plus per-slot bookkeeping for the targets."""

    x: np.ndarray  # (n, 18, 7) float32
    x_mask: np.ndarray  # (n, 18) bool
    x_extra: np.ndarray | None  # (n, 18, K) float32
    globals: np.ndarray  # (n, 10) float32
    kind: np.ndarray  # (n, 18) int8: KIND_* or -1 for padding
    gen_index: np.ndarray  # (n, 18) int32: matched GenPart index, -1 none / no truth


def _objects(events: RecoEvents, cfg: dict):
    lep_cfg, jet_cfg = cfg["leptons"], cfg["jets"]
    leptons = []
    for collection, kind, max_eta in (
        (events.muons, KIND_MUON, lep_cfg["muon_max_abs_eta"]),
        (events.electrons, KIND_ELECTRON, lep_cfg["electron_max_abs_eta"]),
    ):
        keep = (collection.pt > lep_cfg["min_pt_gev"]) & (np.abs(collection.eta) < max_eta)
        if lep_cfg["max_isolation"] is not None:
            keep = keep & (collection.iso < lep_cfg["max_isolation"])
        leptons.append(_as_objects(collection[keep], kind, is_lepton=True))
    leptons = ak.concatenate(leptons, axis=1)
    leptons = leptons[ak.argsort(leptons.pt, axis=1, ascending=False)]

    jets = events.jets
    jets = jets[(jets.pt > jet_cfg["min_pt_gev"]) & (np.abs(jets.eta) < jet_cfg["max_abs_eta"])]
    if jet_cfg["lepton_overlap_dr"] > 0:
        pairs = ak.cartesian([jets, leptons], axis=1, nested=True)
        jet, lep = ak.unzip(pairs)
        dphi = (jet.phi - lep.phi + np.pi) % (2 * np.pi) - np.pi
        near = np.hypot(jet.eta - lep.eta, dphi) < jet_cfg["lepton_overlap_dr"]
        jets = jets[~ak.any(near, axis=2)]
    jets = _as_objects(jets, KIND_JET, is_lepton=False)
    jets = jets[ak.argsort(jets.pt, axis=1, ascending=False)]
    return leptons, jets


def _as_objects(collection, kind: int, is_lepton: bool) -> ak.Array:
    fields = collection.fields
    zeros = ak.zeros_like(collection.pt)
    return ak.zip(
        {
            "pt": collection.pt,
            "eta": collection.eta,
            "phi": collection.phi,
            "mass": collection.mass,
            "btag": zeros if is_lepton else collection.btag,
            "is_lepton": zeros + (1.0 if is_lepton else 0.0),
            "charge": collection.charge if is_lepton else zeros,
            "iso": collection.iso if is_lepton else zeros,
            "ip3d": collection.ip3d if is_lepton else zeros,
            "kind": ak.values_astype(zeros + kind, np.int8),
            "gen": collection.genPartIdx
            if "genPartIdx" in fields
            else ak.values_astype(zeros - 1, np.int32),
        },
        with_name="Momentum4D",
    )


def _invariant_mass(objects: ak.Array) -> np.ndarray:
    total = ak.zip(
        {f: ak.sum(getattr(objects, f), axis=1) for f in ("px", "py", "pz", "E")},
        with_name="Momentum4D",
    )
    return ak.to_numpy(
        np.sqrt(np.maximum(total.E**2 - total.px**2 - total.py**2 - total.pz**2, 0.0))
    )


def _slots(values: ak.Array, fill, dtype) -> np.ndarray:
    padded = ak.fill_none(ak.pad_none(values, N_OBJECTS, axis=1, clip=True), fill)
    return ak.to_numpy(padded).astype(dtype)


def build_point_clouds(events: RecoEvents, cfg: dict) -> PointClouds:
    """Fixed-shape inputs of the events; ``cfg`` is the ``conversion`` config section."""
    leptons, jets = _objects(events, cfg)
    objects = ak.concatenate([leptons, jets], axis=1)

    columns = {
        "E": objects.E,
        "pT": objects.pt,
        "eta": objects.eta,
        "phi": objects.phi,
        "isBJet": objects.btag,
        "isLepton": objects.is_lepton,
        "charge": objects.charge,
    }
    x = np.stack([_slots(columns[f], 0.0, np.float32) for f in OBJECT_FEATURES], axis=-1)
    x_mask = _slots(ak.ones_like(objects.pt, dtype=bool), False, bool)
    extra_names = cfg.get("x_extra") or []
    x_extra = (
        np.stack([_slots(objects[f], 0.0, np.float32) for f in extra_names], axis=-1)
        if extra_names
        else None
    )

    bjets = jets[jets.btag > 0.5]
    values = {
        "MET": events.met_pt,
        "MET_phi": events.met_phi,
        "nLepton": ak.to_numpy(ak.num(leptons)),
        "nJet": ak.to_numpy(ak.num(jets)),
        "nBJet": ak.to_numpy(ak.num(bjets)),
        "HT": ak.to_numpy(ak.sum(jets.pt, axis=1)),
        "HT_lep": ak.to_numpy(ak.sum(leptons.pt, axis=1)),
        "M_all": _invariant_mass(objects),
        "M_leptons": _invariant_mass(leptons),
        "M_bjets": _invariant_mass(bjets),
    }
    global_array = np.stack(
        [np.asarray(values[f], dtype=np.float32) for f in GLOBAL_FEATURES], axis=1
    )
    return PointClouds(
        x=x,
        x_mask=x_mask,
        x_extra=x_extra,
        globals=global_array,
        kind=_slots(objects.kind, -1, np.int8),
        gen_index=_slots(objects.gen, -1, np.int32),
    )
