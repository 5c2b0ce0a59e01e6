"""Parametric CMS-like detector on flat particle arrays (PHYSICS.md §1).

Every number comes from the ``detector`` config section. No per-particle Python loops:
particles are handled as flat numpy arrays of a whole batch, jets by fastjet's
multi-event clustering.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import awkward as ak
import numpy as np

from evenet.generation.particles import INVISIBLE_PDG_IDS, FlatParticles, has_flavour
from evenet.physics import kinematics as kin

MM_TO_CM = 0.1
GHOST_SCALE = 1e-18  # ghost hadrons keep only their direction
LEPTON_FLAVOURS = {
    "Muon": (13, "muons", "pfRelIso04_all"),
    "Electron": (11, "electrons", "pfRelIso03_all"),
}


@dataclass
class RecoObjects:
    """One batch of reconstructed events as flat, event-sorted object arrays plus MET.

    Each object dict maps field -> flat array; ``_event`` gives the event of each object
    (objects pT-descending within an event), other ``_`` fields are internal.
    """

    n_events: int
    jets: dict[str, np.ndarray]  # pt, eta, phi, mass, btag
    leptons: dict[
        str, dict[str, np.ndarray]
    ]  # "Muon"/"Electron": pt, eta, phi, mass, charge, iso, ip3d
    met_pt: np.ndarray
    met_phi: np.ndarray


def _segments(event: np.ndarray, n_events: int) -> np.ndarray:
    """Offsets of an event-sorted index array."""
    return np.concatenate([[0], np.cumsum(np.bincount(event, minlength=n_events))])


def _pairs_within_events(event_a: np.ndarray, offsets_b: np.ndarray):
    """All (a, b) pairs with b in a's event; b given by event offsets. Returns (ia, ib)."""
    nb = np.diff(offsets_b)[event_a]
    ia = np.repeat(np.arange(len(event_a)), nb)
    starts = np.repeat(offsets_b[event_a] - (np.cumsum(nb) - nb), nb)
    ib = starts + np.arange(nb.sum())
    return ia, ib


@contextlib.contextmanager
def _quiet_stdout():
    """fastjet prints its banner on stdout at first use; keep stdout for our JSON output."""
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


_FASTJET_WARMED = False


def _cluster(inputs: ak.Array, radius: float, min_pt: float):
    import fastjet

    global _FASTJET_WARMED
    # The 2-argument JetDefinition picks the E-scheme and a fast strategy (the 4-argument
    # form silently chose an O(N^3) one, PHYSICS.md §1).
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, radius)
    if not _FASTJET_WARMED:
        with _quiet_stdout():
            sequence = fastjet.ClusterSequence(inputs, definition)
            jets = sequence.inclusive_jets(min_pt)
        _FASTJET_WARMED = True
    else:
        sequence = fastjet.ClusterSequence(inputs, definition)
        jets = sequence.inclusive_jets(min_pt)
    return jets, sequence.constituent_index(min_pt)


class Detector:
    """Turns particle-level batches into reconstructed objects."""

    def __init__(self, config: dict, rng: np.random.Generator):
        self.cfg = config
        self.rng = rng

    # -- leptons -----------------------------------------------------------------
    def _leptons(
        self,
        p: FlatParticles,
        final_vis: np.ndarray,
        vis_offsets: np.ndarray,
        pt: np.ndarray,
        eta: np.ndarray,
        phi: np.ndarray,
    ):
        """Reconstructed leptons per flavour; returns (objects, isolated particle indices)."""
        objects, isolated = {}, []
        for name, (pdg, section, _) in LEPTON_FLAVOURS.items():
            c = self.cfg[section]
            cand = final_vis[np.abs(p.pid[final_vis]) == pdg]
            # Loose pre-cut on true pT (smearing is ~1-2%); the stored cut is on smeared pT.
            cand = cand[(pt[cand] > 0.8 * c["min_pt_gev"]) & (np.abs(eta[cand]) < c["max_abs_eta"])]
            found = self.rng.random(len(cand)) < c["efficiency"]
            smeared = pt[cand] * (1.0 + c["pt_resolution"] * self.rng.standard_normal(len(cand)))
            keep = found & (smeared > c["min_pt_gev"])
            cand, lep_pt = cand[keep], smeared[keep]
            ev = p.event[cand]

            # Relative isolation: visible pT in the cone around the true direction, itself excluded.
            ia, ib = _pairs_within_events(ev, vis_offsets)
            other = final_vis[ib]
            in_cone = (
                kin.delta_r(eta[cand][ia], phi[cand][ia], eta[other], phi[other])
                < c["isolation_cone"]
            ) & (other != cand[ia])
            cone_pt = np.bincount(
                ia, weights=np.where(in_cone, pt[other], 0.0), minlength=len(cand)
            )
            iso = cone_pt / lep_pt

            # 3D impact parameter: distance of the straight track line to the origin (the
            # primary vertex), from Pythia's production vertex in mm, plus resolution.
            vertex = np.stack([p.vx[cand], p.vy[cand], p.vz[cand]], axis=-1)
            direction = kin.unit(np.stack([p.px[cand], p.py[cand], p.pz[cand]], axis=-1))
            ip_true = np.linalg.norm(np.cross(vertex, direction), axis=-1) * MM_TO_CM
            ip3d = np.abs(ip_true + c["ip3d_resolution_cm"] * self.rng.standard_normal(len(cand)))

            order = np.lexsort((-lep_pt, ev))
            fields = {
                "pt": lep_pt,
                "eta": eta[cand],
                "phi": phi[cand],
                "mass": p.m[cand],
                "charge": -np.sign(p.pid[cand]),
                "iso": iso,
                "ip3d": ip3d,
                "_index": cand,
            }
            objects[name] = {k: v[order] for k, v in fields.items()}
            objects[name]["_event"] = ev[order]
            isolated.append(cand[iso < self.cfg["isolated_below"]])
        return objects, np.concatenate(isolated)

    # -- jets --------------------------------------------------------------------
    def _jets(self, p: FlatParticles, inputs: np.ndarray):
        """Cluster visible particles plus B/C-hadron ghosts; return smeared jets and true sums."""
        c = self.cfg["jets"]
        heavy = np.flatnonzero(np.abs(p.pid) > 400)  # cheap pre-selection of the record
        b_ghosts = heavy[has_flavour(p.pid[heavy], 5)]
        c_ghosts = heavy[has_flavour(p.pid[heavy], 4)]
        index = np.concatenate([inputs, b_ghosts, c_ghosts])
        kind = np.concatenate(
            [
                np.zeros(len(inputs), np.int8),
                np.ones(len(b_ghosts), np.int8),
                np.full(len(c_ghosts), 2, np.int8),
            ]
        )
        event = p.event[index]
        order = np.argsort(event, kind="stable")
        index, kind, event = index[order], kind[order], event[order]
        scale = np.where(kind == 0, 1.0, GHOST_SCALE)
        counts = np.bincount(event, minlength=p.n_events)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        four = ak.zip(
            {
                "px": p.px[index] * scale,
                "py": p.py[index] * scale,
                "pz": p.pz[index] * scale,
                "E": p.e[index] * scale,
            }
        )
        jets, constituents = _cluster(
            ak.unflatten(four, counts), c["radius"], c["cluster_min_pt_gev"]
        )

        n_jets = ak.to_numpy(ak.num(jets)).astype(np.int64)
        jet_event = np.repeat(np.arange(p.n_events), n_jets)
        jpx, jpy, jpz, je = (
            ak.to_numpy(ak.flatten(jets[f])).astype(np.float64) for f in ("px", "py", "pz", "E")
        )
        # Hadron flavour from ghosts: B beats C beats light.
        n_const = ak.to_numpy(ak.flatten(ak.num(constituents, axis=2))).astype(np.int64)
        local = ak.to_numpy(ak.flatten(constituents, axis=None)).astype(np.int64)
        const_jet = np.repeat(np.arange(len(n_const)), n_const)
        const_kind = kind[offsets[jet_event[const_jet]] + local]
        has_b = np.bincount(const_jet, weights=const_kind == 1, minlength=len(n_const)) > 0
        has_c = np.bincount(const_jet, weights=const_kind == 2, minlength=len(n_const)) > 0

        # Energy resolution sigma/E = sqrt(a^2/E + b^2/E^2 + c^2), applied to the four-vector.
        res = c["resolution"]
        rel = np.sqrt(
            res["stochastic"] ** 2 / je + (res["noise_gev"] / je) ** 2 + res["constant"] ** 2
        )
        factor = np.maximum(1.0 + rel * self.rng.standard_normal(len(je)), 0.0)
        spx, spy, spz, se = jpx * factor, jpy * factor, jpz * factor, je * factor
        jet_pt, jet_eta = kin.pt(spx, spy), kin.eta(spx, spy, spz)

        b = self.cfg["btag"]
        efficiency = np.where(
            has_b, b["efficiency_b"], np.where(has_c, b["efficiency_c"], b["efficiency_light"])
        )
        tagged = (np.abs(jet_eta) < b["max_abs_eta"]) & (self.rng.random(len(je)) < efficiency)

        in_acceptance = np.abs(jet_eta) < c["max_abs_eta"]
        store = in_acceptance & (jet_pt > c["min_pt_gev"])
        order = np.lexsort((-jet_pt[store], jet_event[store]))
        jets_out = {
            "pt": jet_pt[store][order],
            "eta": jet_eta[store][order],
            "phi": kin.phi(spx, spy)[store][order],
            "mass": kin.mass(se, spx, spy, spz)[store][order],
            "btag": tagged[store][order].astype(np.float32),
            "_event": jet_event[store][order],
            "_hadron_flavour": np.where(has_b, 5, np.where(has_c, 4, 0))[store][order],
        }
        # Sums for MET: every clustered jet inside the acceptance, true and smeared.
        w = in_acceptance.astype(np.float64)
        sums = {
            "true_px": np.bincount(jet_event, jpx * w, p.n_events),
            "true_py": np.bincount(jet_event, jpy * w, p.n_events),
            "true_pt": np.bincount(jet_event, kin.pt(jpx, jpy) * w, p.n_events),
            "smeared_px": np.bincount(jet_event, spx * w, p.n_events),
            "smeared_py": np.bincount(jet_event, spy * w, p.n_events),
        }
        return jets_out, sums

    # -- everything --------------------------------------------------------------
    def reconstruct(self, p: FlatParticles) -> RecoObjects:
        n = p.n_events
        pt, eta, phi = p.pt, p.eta, p.phi
        final = p.status > 0
        visible = (
            final
            & ~np.isin(np.abs(p.pid), INVISIBLE_PDG_IDS)
            & (np.abs(eta) < self.cfg["max_abs_eta_visible"])
        )
        final_vis = np.flatnonzero(visible)  # event-sorted, as the flat record is
        vis_offsets = _segments(p.event[final_vis], n)

        leptons, isolated = self._leptons(p, final_vis, vis_offsets, pt, eta, phi)
        jet_inputs = final_vis[~np.isin(final_vis, isolated)]
        jets, jet_sums = self._jets(p, jet_inputs)

        # MET = −(smeared jets + smeared isolated leptons + smeared unclustered remainder).
        vis_event = p.event[final_vis]
        total_px = np.bincount(vis_event, p.px[final_vis], n)
        total_py = np.bincount(vis_event, p.py[final_vis], n)
        total_pt = np.bincount(vis_event, pt[final_vis], n)
        lep_true_px, lep_true_py, lep_true_pt = np.zeros(n), np.zeros(n), np.zeros(n)
        lep_px, lep_py = np.zeros(n), np.zeros(n)
        for obj in leptons.values():
            iso = obj["iso"] < self.cfg["isolated_below"]
            ev, idx = obj["_event"][iso], obj["_index"][iso]
            lep_true_px += np.bincount(ev, p.px[idx], n)
            lep_true_py += np.bincount(ev, p.py[idx], n)
            lep_true_pt += np.bincount(ev, pt[idx], n)
            lep_px += np.bincount(ev, obj["pt"][iso] * np.cos(obj["phi"][iso]), n)
            lep_py += np.bincount(ev, obj["pt"][iso] * np.sin(obj["phi"][iso]), n)
        un_px = total_px - jet_sums["true_px"] - lep_true_px
        un_py = total_py - jet_sums["true_py"] - lep_true_py
        un_sum_et = np.maximum(total_pt - jet_sums["true_pt"] - lep_true_pt, 0.0)
        sigma = self.cfg["met"]["unclustered_resolution"] * np.sqrt(un_sum_et)
        un_px = un_px + sigma * self.rng.standard_normal(n)
        un_py = un_py + sigma * self.rng.standard_normal(n)
        met_x = -(jet_sums["smeared_px"] + lep_px + un_px)
        met_y = -(jet_sums["smeared_py"] + lep_py + un_py)

        return RecoObjects(
            n_events=n,
            jets=jets,
            leptons=leptons,
            met_pt=np.hypot(met_x, met_y),
            met_phi=np.arctan2(met_y, met_x),
        )
