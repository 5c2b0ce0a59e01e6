"""Point clouds from RecoEvents: object selection, ordering, x / x_mask / x_extra / globals.

Order (DESIGN.md): leptons by pT, then jets by pT; at most 18 objects, so above 18 all
leptons (up to 18) come first, then the leading jets. ``globals`` count every object that
passes the thresholds, also those beyond slot 18. All kinematics run on awkward arrays with
flat numpy kinematics (evenet.physics); no Python loop per event.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from evenet.io.events import RecoEvents
from evenet.io.schema import GLOBAL_FEATURES, N_OBJECTS, OBJECT_FEATURES
from evenet.physics import kinematics as kin

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
    )


def _flat(objects: ak.Array, field: str, dtype) -> np.ndarray:
    return ak.to_numpy(ak.flatten(objects[field], axis=1)).astype(dtype, copy=False)


def _mass_of(event: np.ndarray, n: int, select: np.ndarray, e, px, py, pz) -> np.ndarray:
    """Invariant mass of the selected objects of every event (0 when none)."""
    sums = [np.bincount(event, np.where(select, v, 0.0), n) for v in (e, px, py, pz)]
    return kin.mass(*sums)


def build_point_clouds(events: RecoEvents, cfg: dict) -> PointClouds:
    """Fixed-shape inputs of the events; ``cfg`` is the ``conversion`` config section.

    Selection and ordering run on ragged awkward arrays; the kinematics and the padding
    into 18 slots on their flat numpy contents (one pass, no per-field padding).
    """
    leptons, jets = _objects(events, cfg)
    objects = ak.concatenate([leptons, jets], axis=1)
    n = len(events)
    counts = ak.to_numpy(ak.num(objects)).astype(np.int64)
    event = np.repeat(np.arange(n), counts)
    local = np.arange(len(event)) - np.repeat(np.cumsum(counts) - counts, counts)

    pt, eta, phi, mass = (_flat(objects, f, np.float64) for f in ("pt", "eta", "phi", "mass"))
    btag, is_lepton, charge = (
        _flat(objects, f, np.float64) for f in ("btag", "is_lepton", "charge")
    )
    px, py, pz, e = kin.ptetaphim_to_pxpypze(pt, eta, phi, mass)
    features = {
        "E": e,
        "pT": pt,
        "eta": eta,
        "phi": phi,
        "isBJet": btag,
        "isLepton": is_lepton,
        "charge": charge,
    }

    stored = local < N_OBJECTS
    ev, slot = event[stored], local[stored]
    x = np.zeros((n, N_OBJECTS, len(OBJECT_FEATURES)), np.float32)
    for k, name in enumerate(OBJECT_FEATURES):
        x[ev, slot, k] = features[name][stored]
    x_mask = np.zeros((n, N_OBJECTS), bool)
    x_mask[ev, slot] = True
    extra_names = cfg.get("x_extra") or []
    x_extra = None
    if extra_names:
        x_extra = np.zeros((n, N_OBJECTS, len(extra_names)), np.float32)
        for k, name in enumerate(extra_names):
            x_extra[ev, slot, k] = _flat(objects, name, np.float32)[stored]
    kind = np.full((n, N_OBJECTS), -1, np.int8)
    kind[ev, slot] = _flat(objects, "kind", np.int8)[stored]
    gen_index = np.full((n, N_OBJECTS), -1, np.int32)
    gen_index[ev, slot] = _flat(objects, "gen", np.int32)[stored]

    lepton = is_lepton > 0.5
    bjet = ~lepton & (btag > 0.5)
    values = {
        "MET": events.met_pt,
        "MET_phi": events.met_phi,
        "nLepton": np.bincount(event, lepton, n),
        "nJet": np.bincount(event, ~lepton, n),
        "nBJet": np.bincount(event, bjet, n),
        "HT": np.bincount(event, np.where(lepton, 0.0, pt), n),
        "HT_lep": np.bincount(event, np.where(lepton, pt, 0.0), n),
        "M_all": _mass_of(event, n, np.ones_like(lepton), e, px, py, pz),
        "M_leptons": _mass_of(event, n, lepton, e, px, py, pz),
        "M_bjets": _mass_of(event, n, bjet, e, px, py, pz),
    }
    global_array = np.stack(
        [np.asarray(values[f], dtype=np.float32) for f in GLOBAL_FEATURES], axis=1
    )
    return PointClouds(
        x=x, x_mask=x_mask, x_extra=x_extra, globals=global_array, kind=kind, gen_index=gen_index
    )
