"""XGBoost features: jet order, the |m12 - m34| pairing, and the feature values."""

from __future__ import annotations

import numpy as np
import pytest
import vector

from analyses.haa.features import NAMES, features, leading_jets, pair_jets


def _decay(mass: float, pt: float, eta: float, phi: float, theta: float, azimuth: float):
    """Two massless daughters of a resonance, decaying at (theta, azimuth) in its frame."""
    p = mass / 2
    direction = np.array(
        [np.sin(theta) * np.cos(azimuth), np.sin(theta) * np.sin(azimuth), np.cos(theta)]
    )
    parent = vector.obj(pt=pt, eta=eta, phi=phi, mass=mass)
    daughters = []
    for sign in (1, -1):
        px, py, pz = sign * p * direction
        daughters.append(vector.obj(px=px, py=py, pz=pz, E=p).boost_p4(parent))
    return daughters


def _row(jets, btag=(1, 1, 1, 1), slots=8):
    x = np.zeros((1, slots, 7))
    mask = np.zeros((1, slots), bool)
    for k, (jet, tag) in enumerate(zip(jets, btag, strict=True)):
        x[0, k, :5] = [jet.E, jet.pt, jet.eta, jet.phi, tag]
        mask[0, k] = True
    return x, mask


def test_pairing_finds_the_true_pairs_of_equal_mass_resonances():
    a1 = _decay(30.0, 60.0, 0.3, 0.2, 1.1, 0.4)
    a2 = _decay(30.0, 45.0, -0.8, 2.9, 0.7, 2.0)
    x, mask = _row([a1[0], a2[0], a1[1], a2[1]])  # true pairs: slots (0, 2) and (1, 3)
    pairs = pair_jets(x, leading_jets(x, mask))[0]
    assert sorted(sorted(p) for p in pairs.tolist()) == [[0, 2], [1, 3]]
    values = dict(zip(NAMES, features(x, mask)[0], strict=True))
    assert values["m_a1"] == pytest.approx(30.0, rel=1e-4)
    assert values["m_a2"] == pytest.approx(30.0, rel=1e-4)
    total = a1[0] + a1[1] + a2[0] + a2[1]
    assert values["m_4b"] == pytest.approx(total.mass, rel=1e-4)
    assert values["n_btag"] == 4 and values["n_jet"] == 4


def test_heavier_pair_first_and_tagged_jets_lead():
    light = _decay(20.0, 40.0, 0.0, 0.0, 1.0, 0.0)
    heavy = _decay(60.0, 40.0, 1.0, 3.0, 1.3, 1.0)
    extra = vector.obj(pt=200.0, eta=0.1, phi=1.5, mass=0.0)  # hardest jet, untagged
    x, mask = _row([extra, light[0], light[1], heavy[0], heavy[1]], btag=(0, 1, 1, 1, 1))
    slots = leading_jets(x, mask)[0]
    assert 0 not in slots.tolist()  # four tagged jets beat the untagged leading jet
    assert list(x[0, slots, 1]) == sorted(x[0, slots, 1], reverse=True)
    values = dict(zip(NAMES, features(x, mask)[0], strict=True))
    pairs = pair_jets(x, leading_jets(x, mask))[0]
    jets = [vector.obj(pt=r[1], eta=r[2], phi=r[3], E=r[0]) for r in x[0]]
    masses = [(jets[i] + jets[j]).mass for i, j in pairs]
    assert masses[0] >= masses[1]
    assert [values["m_a1"], values["m_a2"]] == pytest.approx(masses, rel=1e-4)
    assert values["ht"] == pytest.approx(x[0, :5, 1].sum())
    assert values["n_btag"] == 4 and values["n_jet"] == 5


def test_fewer_than_four_jets_give_missing_features():
    a1 = _decay(30.0, 60.0, 0.3, 0.2, 1.1, 0.4)
    x, mask = _row([a1[0], a1[1], a1[0]], btag=(1, 1, 0))
    assert np.isnan(features(x, mask)).all()
