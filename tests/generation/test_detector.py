"""The parametric detector on hand-made events, with smearing switched off."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from evenet.generation.detector import Detector
from evenet.generation.particles import FlatParticles, has_flavour
from evenet.physics import kinematics as kin


def _event(particles):
    """FlatParticles of one event from (pdg, status, pt, eta, phi, mass, vertex_mm) tuples."""
    pid, status, pt, eta, phi, m, vtx = map(np.array, zip(*particles, strict=True))
    px, py, pz, e = kin.ptetaphim_to_pxpypze(
        pt.astype(float), eta.astype(float), phi.astype(float), m.astype(float)
    )
    vtx = np.asarray(np.stack(vtx), dtype=float)
    n = len(pid)
    zeros = np.zeros(n, dtype=np.int64)
    return FlatParticles(
        offsets=np.array([0, n]),
        event=zeros,
        pid=pid,
        status=status,
        mother1=zeros,
        daughter1=zeros,
        daughter2=zeros,
        px=px,
        py=py,
        pz=pz,
        e=e,
        m=m.astype(float),
        vx=vtx[:, 0],
        vy=vtx[:, 1],
        vz=vtx[:, 2],
    )


@pytest.fixture
def ideal(base_config):
    cfg = copy.deepcopy(base_config["detector"])
    for lepton in ("muons", "electrons"):
        cfg[lepton].update(efficiency=1.0, pt_resolution=0.0, ip3d_resolution_cm=0.0)
    cfg["jets"]["resolution"].update(stochastic=0.0, noise_gev=0.0, constant=0.0)
    cfg["met"]["unclustered_resolution"] = 0.0
    return cfg


ORIGIN = (0.0, 0.0, 0.0)


def test_muon_isolation_impact_parameter_and_met(ideal):
    event = _event(
        [
            (13, 1, 20.0, 0.0, 0.0, 0.105, (0.0, 1.0, 0.0)),  # muon along x, vertex 1 mm off in y
            (211, 1, 1.0, 0.0, 0.2, 0.14, ORIGIN),  # inside ΔR 0.4
            (22, 1, 1.0, 0.3, 0.0, 0.0, ORIGIN),  # inside ΔR 0.4 (neutral counts too)
            (211, 1, 5.0, 0.0, 1.0, 0.14, ORIGIN),  # outside
            (12, 1, 30.0, 0.0, 2.0, 0.0, ORIGIN),  # neutrino: invisible
        ]
    )
    reco = Detector(ideal, np.random.default_rng(0)).reconstruct(event)
    muon = reco.leptons["Muon"]
    assert muon["pt"].tolist() == pytest.approx([20.0])
    assert muon["iso"].tolist() == pytest.approx([2.0 / 20.0])
    assert muon["charge"].tolist() == [-1]
    assert muon["ip3d"].tolist() == pytest.approx([0.1])  # 1 mm = 0.1 cm
    # No jets above 10 GeV: MET is minus the visible sum, neutrino excluded.
    visible = [(20.0, 0.0), (1.0, 0.2), (1.0, 0.0), (5.0, 1.0)]
    mx = -sum(pt * np.cos(phi) for pt, phi in visible)
    my = -sum(pt * np.sin(phi) for pt, phi in visible)
    assert reco.met_pt[0] == pytest.approx(np.hypot(mx, my))
    assert reco.met_phi[0] == pytest.approx(np.arctan2(my, mx))


def test_isolated_lepton_is_not_clustered_but_a_b_hadron_ghost_tags_the_jet(ideal):
    ideal["btag"].update(efficiency_b=1.0, efficiency_c=0.0, efficiency_light=0.0)
    event = _event(
        [
            (-11, 1, 40.0, 1.0, -2.0, 0.000511, ORIGIN),  # isolated positron
            (211, 1, 30.0, -1.0, 1.0, 0.14, ORIGIN),  # a b jet...
            (22, 1, 20.0, -1.05, 1.05, 0.0, ORIGIN),
            (511, -91, 25.0, -1.02, 1.02, 5.28, ORIGIN),  # ...with its decayed B0 as a ghost
            (2212, 1, 25.0, 2.0, 2.5, 0.938, ORIGIN),  # a light jet
        ]
    )
    reco = Detector(ideal, np.random.default_rng(0)).reconstruct(event)
    jets = reco.jets
    assert jets["pt"][0] == pytest.approx(50.0, rel=0.02)
    assert jets["btag"].tolist() == [1.0, 0.0]
    assert reco.leptons["Electron"]["charge"].tolist() == [1]
    assert reco.leptons["Electron"]["iso"].tolist() == pytest.approx([0.0])


def test_flavour_classification_of_hadrons():
    ids = np.array([511, -521, 531, 5122, 553, 100553, 421, -4122, 443, 211, 5, 21, 5101])
    assert has_flavour(ids, 5).tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert has_flavour(ids, 4).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
