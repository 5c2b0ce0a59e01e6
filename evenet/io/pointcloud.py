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
from evenet.io.schema import GLOBAL_EXTRA_FEATURES, GLOBAL_FEATURES, N_OBJECTS, OBJECT_FEATURES
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
    globals_extra: np.ndarray | None = None  # (n, K_g) float32 (conversion.globals_extra)


def _flat_collection(collection: ak.Array, kind: int, is_lepton: bool) -> dict[str, np.ndarray]:
    """One collection's contents as flat numpy columns (``event``: the event of each object)."""
    counts = ak.to_numpy(ak.num(collection)).astype(np.int64)
    n_obj = int(counts.sum())

    def col(field, dtype=np.float64):
        return ak.to_numpy(ak.flatten(collection[field], axis=1)).astype(dtype, copy=False)

    zeros = np.zeros(n_obj)
    fields = collection.fields
    return {
        "event": np.repeat(np.arange(len(counts)), counts),
        "pt": col("pt"),
        "eta": col("eta"),
        "phi": col("phi"),
        "mass": col("mass"),
        "btag": zeros if is_lepton else col("btag"),
        "is_lepton": zeros + (1.0 if is_lepton else 0.0),
        "charge": col("charge") if is_lepton else zeros,
        "iso": col("iso") if is_lepton else zeros,
        "ip3d": col("ip3d") if is_lepton else zeros,
        "kind": np.full(n_obj, kind, np.int8),
        "gen": col("genPartIdx", np.int32)
        if "genPartIdx" in fields
        else np.full(n_obj, -1, np.int32),
    }


def _take(columns: dict[str, np.ndarray], index) -> dict[str, np.ndarray]:
    return {k: v[index] for k, v in columns.items()}


def _near_a_lepton(jets: dict, leptons: dict, n: int, max_dr: float) -> np.ndarray:
    """Per jet: within ``max_dr`` of any kept lepton of its event (pairs built per event)."""
    lep_offsets = np.concatenate([[0], np.cumsum(np.bincount(leptons["event"], minlength=n))])
    n_pairs = np.diff(lep_offsets)[jets["event"]]
    jet_of_pair = np.repeat(np.arange(len(jets["pt"])), n_pairs)
    lep_of_pair = np.repeat(
        lep_offsets[jets["event"]] - (np.cumsum(n_pairs) - n_pairs), n_pairs
    ) + np.arange(n_pairs.sum())
    dr = kin.delta_r(
        jets["eta"][jet_of_pair],
        jets["phi"][jet_of_pair],
        leptons["eta"][lep_of_pair],
        leptons["phi"][lep_of_pair],
    )
    return np.bincount(jet_of_pair, dr < max_dr, len(jets["pt"])) > 0


def _objects(events: RecoEvents, cfg: dict) -> dict[str, np.ndarray]:
    """Selected objects of all events as flat columns, ordered per event: leptons by pT,
    then jets by pT (``group`` 0 for leptons, 1 for jets)."""
    lep_cfg, jet_cfg = cfg["leptons"], cfg["jets"]
    flavours = lep_cfg.get("flavours") or ("muon", "electron")
    n = len(events)
    parts = []
    for collection, kind, max_eta, flavour in (
        (events.muons, KIND_MUON, lep_cfg["muon_max_abs_eta"], "muon"),
        (events.electrons, KIND_ELECTRON, lep_cfg["electron_max_abs_eta"], "electron"),
    ):
        c = _flat_collection(collection, kind, is_lepton=True)
        keep = (c["pt"] > lep_cfg["min_pt_gev"]) & (np.abs(c["eta"]) < max_eta)
        keep &= flavour in flavours
        if lep_cfg["max_isolation"] is not None:
            keep &= c["iso"] < lep_cfg["max_isolation"]
        parts.append(_take(c, keep))
    leptons = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    jets = _flat_collection(events.jets, KIND_JET, is_lepton=False)
    jets = _take(
        jets,
        (jets["pt"] > jet_cfg["min_pt_gev"])
        & (np.abs(jets["eta"]) < jet_cfg["max_abs_eta"])
        & jet_cfg.get("enabled", True),
    )
    if jet_cfg["lepton_overlap_dr"] > 0 and len(leptons["pt"]) and len(jets["pt"]):
        jets = _take(jets, ~_near_a_lepton(jets, leptons, n, jet_cfg["lepton_overlap_dr"]))

    objects = {k: np.concatenate([leptons[k], jets[k]]) for k in leptons}
    group = np.concatenate(
        [np.zeros(len(leptons["pt"]), np.int8), np.ones(len(jets["pt"]), np.int8)]
    )
    order = np.lexsort((-objects["pt"], group, objects["event"]))
    objects = _take(objects, order)
    objects["group"] = group[order]
    return objects


def _mass_of(event: np.ndarray, n: int, select: np.ndarray, e, px, py, pz) -> np.ndarray:
    """Invariant mass of the selected objects of every event (0 when none)."""
    sums = [np.bincount(event, np.where(select, v, 0.0), n) for v in (e, px, py, pz)]
    return kin.mass(*sums)


def build_point_clouds(events: RecoEvents, cfg: dict) -> PointClouds:
    """Fixed-shape inputs of the events; ``cfg`` is the ``conversion`` config section.

    Selection, ordering, kinematics and the padding into 18 slots all run on the flat numpy
    contents of the awkward collections (one pass, no per-field padding).
    """
    objects = _objects(events, cfg)
    n = len(events)
    event = objects["event"]
    counts = np.bincount(event, minlength=n)
    local = np.arange(len(event)) - np.repeat(np.cumsum(counts) - counts, counts)

    pt, eta, phi, mass = (objects[f] for f in ("pt", "eta", "phi", "mass"))
    btag, is_lepton, charge = (objects[f] for f in ("btag", "is_lepton", "charge"))
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
            x_extra[ev, slot, k] = objects[name][stored]
    kind = np.full((n, N_OBJECTS), -1, np.int8)
    kind[ev, slot] = objects["kind"][stored]
    gen_index = np.full((n, N_OBJECTS), -1, np.int32)
    gen_index[ev, slot] = objects["gen"][stored]

    global_array, extra_globals = event_globals(
        event,
        n,
        objects,
        (px, py, pz, e),
        (events.met_pt, events.met_phi),
        cfg.get("globals_extra") or (),
    )
    return PointClouds(
        x=x,
        x_mask=x_mask,
        x_extra=x_extra,
        globals=global_array,
        kind=kind,
        gen_index=gen_index,
        globals_extra=extra_globals,
    )


def event_globals(
    event: np.ndarray,
    n: int,
    objects: dict[str, np.ndarray],
    four_momenta: tuple[np.ndarray, ...],
    met: tuple[np.ndarray, np.ndarray],
    extra_names=(),
) -> tuple[np.ndarray, np.ndarray | None]:
    """``globals`` (n, 10) and ``globals_extra`` (n, K_g, None without names) of ``n`` events
    from their objects as flat columns (``event`` index, ``pt``, ``eta``, ``phi``, ``btag``,
    ``is_lepton``; leptons first, each group by pT), their (px, py, pz, E) and (MET, MET_phi).
    The converter and `globals_from_point_cloud` (generated events) share it."""
    pt, eta, phi = objects["pt"], objects["eta"], objects["phi"]
    px, py, pz, e = four_momenta
    lepton = objects["is_lepton"] > 0.5
    bjet = ~lepton & (objects["btag"] > 0.5)
    values = {
        "MET": met[0],
        "MET_phi": met[1],
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
    if not extra_names:
        return global_array, None
    dilepton = _leading_dilepton(event, n, lepton, pt, eta, phi, e, px, py, pz)
    return global_array, np.stack([dilepton[k].astype(np.float32) for k in extra_names], axis=1)


def globals_from_point_cloud(
    x: np.ndarray,
    x_mask: np.ndarray,
    met: tuple[np.ndarray, np.ndarray] | None = None,
    extra_names=(),
) -> tuple[np.ndarray, np.ndarray | None]:
    """``globals`` and ``globals_extra`` recomputed from point clouds (x (n, 18, 7) in the
    converter's order, x_mask (n, 18)) as the converter computes them; MET and MET_phi are
    not functions of the objects and are taken from ``met`` (default 0)."""
    n = len(x)
    event, slot = np.nonzero(x_mask)  # row-major: each event's slots in order
    columns = {name: x[event, slot, k].astype(np.float64) for k, name in enumerate(OBJECT_FEATURES)}
    objects = {
        "pt": columns["pT"],
        "eta": columns["eta"],
        "phi": columns["phi"],
        "btag": columns["isBJet"],
        "is_lepton": columns["isLepton"],
    }
    zero_mass = np.zeros_like(objects["pt"])  # E is the stored one
    px, py, pz, _ = kin.ptetaphim_to_pxpypze(
        objects["pt"], objects["eta"], objects["phi"], zero_mass
    )
    met = met if met is not None else (np.zeros(n), np.zeros(n))
    return event_globals(event, n, objects, (px, py, pz, columns["E"]), met, extra_names)


def _leading_dilepton(event, n, lepton, pt, eta, phi, e, px, py, pz) -> dict[str, np.ndarray]:
    """M_ll, pT_ll and dR_ll of each event's two leading leptons (objects are ordered leptons
    first, by pT); 0 for events with fewer than two leptons."""
    rows = np.flatnonzero(lepton)
    rank = np.arange(len(rows)) - np.searchsorted(event[rows], event[rows])  # within the event
    first, second = rows[rank == 0], rows[rank == 1]
    pair = np.isin(event[first], event[second])
    first = first[pair]
    out = {name: np.zeros(n) for name in GLOBAL_EXTRA_FEATURES}
    where = event[first]
    total = [v[first] + v[second] for v in (e, px, py, pz)]
    out["M_ll"][where] = kin.mass(*total)
    out["pT_ll"][where] = kin.pt(total[1], total[2])
    out["dR_ll"][where] = kin.delta_r(eta[first], phi[first], eta[second], phi[second])
    return out
