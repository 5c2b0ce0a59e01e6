"""The qe reconstructions on exact synthetic tt̄ events: slot, charge and ν-slot conventions,
pairing efficiency (swapped and unmatchable events are wrong), EveNet's decode fallback."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.qe import reconstruction as rec
from analyses.qe.events import Partons, SplitEvents, object_four_vectors
from analyses.qe.selection import BTAG, CHARGE, ETA, LEPTON, PHI, PT, select
from analyses.qe.selection import E as ENERGY
from evenet.physics.neutrino import M_TOP, M_W
from tests.physics.test_neutrino import _events as exact_decays

N = 200


def _features(p4: np.ndarray) -> np.ndarray:
    """(n, 3) pT, η, φ of (n, 4) four-vectors."""
    pt = np.hypot(p4[:, 1], p4[:, 2])
    return np.stack([pt, np.arcsinh(p4[:, 3] / pt), np.arctan2(p4[:, 2], p4[:, 1])], 1)


def _test_events(n: int = N, seed: int = 1) -> tuple[SplitEvents, dict]:
    """Exact decays as converted objects: slot 0 ℓ⁺, 1 ℓ⁻, 2 b, 3 b̄ (both b-tagged)."""
    d = exact_decays(n, seed)
    x = np.zeros((n, 18, 7))
    mask = np.zeros((n, 18), bool)
    for slot, (p4, lepton, charge) in enumerate(
        ((d["l"], 1, 1), (d["lbar"], 1, -1), (d["b"], 0, 0), (d["bbar"], 0, 0))
    ):
        f = _features(p4)
        x[:, slot, ENERGY] = p4[:, 0]
        x[:, slot, PT], x[:, slot, ETA], x[:, slot, PHI] = f[:, 0], f[:, 1], f[:, 2]
        x[:, slot, LEPTON], x[:, slot, CHARGE] = lepton, charge
        x[:, slot, BTAG] = 1 - lepton
        mask[:, slot] = True
    objects = object_four_vectors(x)
    events = SplitEvents(
        sample=np.array(["tt"] * n, dtype=object),
        run=np.ones(n, dtype=np.int64),
        event=np.arange(n, dtype=np.int64),
        weight=np.ones(n),
        objects=objects,
        is_jet=mask & (x[..., LEPTON] < 0.5),
        met_x=d["met"][:, 0],
        met_y=d["met"][:, 1],
        selection=select(x, mask),
        truth_assignment=np.tile(np.array([[2, 0], [3, 1]]), (n, 1, 1)),
        truth_neutrinos=np.stack([d["nu"], d["nubar"]], 1),
        partons=Partons(
            objects[:, 2] + objects[:, 0] + d["nu"],
            objects[:, 3] + objects[:, 1] + d["nubar"],
            objects[:, 0],
            objects[:, 1],
        ),
        dropped=0,
    )
    return events, d


def _parton_values(events: SplitEvents) -> dict:
    table = rec.parton_table(events).to_pandas()
    return {o: table[o].to_numpy() for o in rec.OBSERVABLES}


def test_truth_neutrinos_and_truth_pairing_give_the_parton_observables():
    """Guards the wiring: b + ℓ⁺ + ν is the top, b̄ + ℓ⁻ + ν̄ the antitop, every observable
    of the reconstruction equals the parton level to 1e-9."""
    events, _ = _test_events()
    analytic = rec.analytic(events, M_TOP, M_W)
    assert len(analytic.rows) == N  # every exact event passes the selection
    exact = rec.with_truth_neutrinos(events, rec.with_truth_pairing(events, analytic, M_TOP, M_W))
    table = rec.observables_table(events, exact).to_pandas()
    parton = _parton_values(events)
    for o in rec.OBSERVABLES:
        np.testing.assert_allclose(table[o].to_numpy(), parton[o], atol=1e-9, err_msg=o)
    assert rec.pairing_correct(events, exact).all()


def test_analytic_pairing_is_mostly_right_on_exact_events():
    """Guards the analytic method's pairing (solutions with the generator's masses) and that
    exact events always have a solution for the right pairing."""
    events, _ = _test_events()
    analytic = rec.analytic(events, M_TOP, M_W)
    assert rec.pairing_correct(events, analytic).mean() > 0.85
    truth = rec.with_truth_pairing(events, analytic, M_TOP, M_W)
    assert truth.info["no_solution_fraction"] < 0.02


def _evenet(events, decoded, neutrinos):
    method = rec.Method("evenet", "main", "pretrained", "all", "1")
    return rec.evenet(events, method, decoded, neutrinos, M_TOP, M_W)


def test_evenet_samples_and_pairing_rules():
    """Guards EveNet's path: K samples with ν in slot 0 (with ℓ⁺) rebuild the true tops; a
    swapped decode and an unmatchable event count as wrong; a decode without a usable b jet
    falls back to the analytic pairing (counted) but is still judged as decoded."""
    events, d = _test_events()
    truth_nu = np.stack([_features(d["nu"]), _features(d["nubar"])], 1)  # (n, 2, 3)
    samples = np.repeat(truth_nu[:, None], 3, axis=1)  # K = 3 identical samples
    decoded = events.truth_assignment.copy()
    reco = _evenet(events, decoded, samples)
    assert reco.samples == 3 and reco.info["fallback_fraction"] == 0
    table = rec.observables_table(events, reco).to_pandas()
    parton = _parton_values(events)
    np.testing.assert_allclose(
        table["cos_phi"].to_numpy(), np.repeat(parton["cos_phi"], 3), atol=1e-6
    )
    assert table["weight"].to_numpy() == pytest.approx(1 / 3)
    assert rec.pairing_correct(events, reco).all()

    decoded[:10] = decoded[:10, ::-1]  # rows swapped: t1 gets [b̄, ℓ⁻]
    decoded[10:20, 0, 0] = 0  # a lepton slot as the b of t1: unusable, falls back
    unmatchable = events.truth_assignment.copy()
    unmatchable[20:30, 1, 0] = -1
    events = SplitEvents(**{**events.__dict__, "truth_assignment": unmatchable})
    reco = _evenet(events, decoded, samples)
    correct = rec.pairing_correct(events, reco)
    assert not correct[:30].any() and correct[30:].all()
    assert reco.info["fallback_fraction"] == pytest.approx(10 / N)
    assert (reco.pairing[10:20, :, 0] >= 2).all()  # the fallback picked jets
