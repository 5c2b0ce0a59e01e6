"""The generation stage: reproducibility, ntuple contract, physics sanity of each sample."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from evenet.generation.ntuple import COLLECTIONS, EVENT_BRANCHES, RUNS_BRANCHES

TTBAR_EVENTS = 400


def _contract_branches() -> dict[str, str]:
    root_names = {
        np.float32: "float",
        np.int32: "int32_t",
        np.int64: "int64_t",
        np.float64: "double",
    }
    expected = {name: root_names[t] for name, t in EVENT_BRANCHES.items()}
    for coll, fields in COLLECTIONS.items():
        expected[f"n{coll}"] = "int32_t"
        for field, t in fields.items():
            expected[f"{coll}_{field}"] = root_names[t] + "[]"
    return expected


def test_ntuple_has_exactly_the_contract_branches(samples):
    with uproot.open(samples.path("ttbar_dilepton", TTBAR_EVENTS)) as f:
        assert f["Events"].typenames() == _contract_branches()
        assert f["Events"].num_entries == TTBAR_EVENTS


def test_contract_names_match_design_doc():
    """The NanoAOD names DESIGN.md fixes; a rename here breaks every reader downstream."""
    names = set(_contract_branches())
    for required in [
        "nJet",
        "Jet_pt",
        "Jet_btag",
        "Jet_genPartIdx",
        "Muon_pfRelIso04_all",
        "Muon_ip3d",
        "Electron_pfRelIso03_all",
        "MET_pt",
        "MET_phi",
        "GenPart_pdgId",
        "GenPart_genPartIdxMother",
        "run",
        "event",
        "process_id",
        "weight",
        "seed",
    ]:
        assert required in names


def test_runs_tree_records_cross_section_before_the_veto(samples):
    with uproot.open(samples.path("ttbar_dilepton", TTBAR_EVENTS)) as f:
        runs = f["Runs"].arrays()
        assert set(f["Runs"].keys()) == set(RUNS_BRANCHES)
    assert runs.genEventCount[0] == TTBAR_EVENTS
    assert runs.genEventSumw[0] == pytest.approx(TTBAR_EVENTS)
    assert runs.sqrt_s_gev[0] == pytest.approx(13000.0)
    # The veto keeps about half; σ is scaled back to Pythia's pre-veto estimate
    # (LO tt̄ ≈ 500 pb × (2 × 2 × 0.108)² ≈ 23 pb for e/μ dileptons).
    assert 0.4 < runs.veto_acceptance[0] < 0.6
    assert runs.n_tried[0] > TTBAR_EVENTS
    assert 15.0 < runs.xsec_pb[0] < 35.0


def test_same_seed_same_arrays_other_seed_other_arrays(samples, base_config, tmp_path):
    from evenet.catalogue import get_process
    from evenet.generation.generate import generate_shard

    reference = samples.events("ttbar_dilepton", 50, seed=11)
    again = tmp_path / "again.root"
    generate_shard(get_process("ttbar_dilepton"), 50, 11, again, base_config, progress=False)
    with uproot.open(again) as f:
        repeated = f["Events"].arrays()
    for field in reference.fields:
        assert ak.array_equal(reference[field], repeated[field]), field
    other = samples.events("ttbar_dilepton", 50, seed=12)
    assert not ak.array_equal(reference.Jet_pt, other.Jet_pt)
    assert set(np.unique(reference.run)) == {11}
    assert reference.event.tolist() == list(range(50))


def test_ttbar_dilepton_truth_record_and_matching(samples):
    events = samples.events("ttbar_dilepton", TTBAR_EVENTS)
    pdg, mothers = events.GenPart_pdgId, events.GenPart_genPartIdxMother
    mother_pdg = ak.where(mothers >= 0, pdg[ak.where(mothers >= 0, mothers, 0)], 0)
    # Every event: t, t̄, each decaying to W and a down-type quark (b, rarely s or d via
    # CKM); W± to a charged lepton (e/μ only) and a neutrino: mothers point inside the list.
    assert ak.all(ak.sum(pdg == 6, axis=1) == 1) and ak.all(ak.sum(pdg == -6, axis=1) == 1)
    assert ak.all(ak.sum((pdg == 24) & (mother_pdg == 6), axis=1) == 1)
    assert ak.all(ak.sum((np.abs(pdg) <= 5) & (np.abs(mother_pdg) == 6), axis=1) == 2)
    charged = (np.abs(pdg) == 11) | (np.abs(pdg) == 13)
    assert ak.all(ak.sum(charged & (np.abs(mother_pdg) == 24), axis=1) == 2)
    # Matching sanity: most b quarks from top decays inside the tracker get a jet.
    central_b = (
        (np.abs(pdg) == 5)
        & (np.abs(mother_pdg) == 6)
        & (events.GenPart_pt > 30)
        & (np.abs(events.GenPart_eta) < 2.4)
    )
    hits = total = 0
    for wanted, jets in zip(
        ak.local_index(pdg)[central_b].tolist(), events.Jet_genPartIdx.tolist(), strict=True
    ):
        total += len(wanted)
        hits += len(set(wanted) & set(jets))
    assert total > 200
    assert hits / total > 0.75, (hits, total)
    # One-to-one: no parton is matched twice in an event.
    for jets in events.Jet_genPartIdx.tolist():
        matched = [j for j in jets if j >= 0]
        assert len(matched) == len(set(matched))


def test_btag_efficiency_on_matched_b_jets(samples):
    events = samples.events("ttbar_dilepton", TTBAR_EVENTS)
    idx = events.Jet_genPartIdx
    pdg = events.GenPart_pdgId[ak.where(idx >= 0, idx, 0)]
    central = np.abs(events.Jet_eta) < 2.4
    b_jets = (idx >= 0) & (np.abs(pdg) == 5) & central
    rate = ak.sum(events.Jet_btag[b_jets]) / ak.sum(b_jets)
    assert 0.6 < rate < 0.8  # configured ε_b = 0.70


def test_leptons_are_isolated_prompt_and_matched(samples):
    events = samples.events("ttbar_dilepton", TTBAR_EVENTS)
    for name, iso in (("Muon", "pfRelIso04_all"), ("Electron", "pfRelIso03_all")):
        matched = events[f"{name}_genPartIdx"] >= 0
        assert ak.sum(matched) > 0.5 * TTBAR_EVENTS * 0.5
        # Prompt W leptons: mostly isolated and from the primary vertex (ip3d ~ 20 µm);
        # unmatched ones (b/c-hadron decays inside jets) mostly not, and displaced.
        isolated = events[f"{name}_{iso}"] < 0.15
        assert ak.mean(isolated[matched]) > 0.75
        assert ak.mean(isolated[~matched]) < 0.3
        ip3d = events[f"{name}_ip3d"]
        assert np.median(ak.flatten(ip3d[matched])) < 0.005
        assert np.median(ak.flatten(ip3d[~matched])) > 2 * np.median(ak.flatten(ip3d[matched]))
        assert ak.all(np.abs(events[f"{name}_charge"]) == 1)
    assert ak.all(events.Muon_pt >= 3.0) and ak.all(events.Electron_pt >= 5.0)
    assert ak.all(events.Jet_pt >= 15.0) and ak.all(np.abs(events.Jet_eta) < 4.7)
    assert ak.all(events.Jet_pt[:, :-1] >= events.Jet_pt[:, 1:])  # pT-sorted
    # Two neutrinos: MET of tens of GeV.
    assert 40 < np.median(events.MET_pt) < 120


def test_failure_mid_run_leaves_no_partial_file(base_config, tmp_path, monkeypatch):
    """Guards the write-to-temporary-then-rename contract when the event loop breaks."""
    from evenet.catalogue import get_process
    from evenet.generation import generate as generate_module

    out = tmp_path / "shard.root"
    out.write_bytes(b"previous good content")
    calls = {"n": 0}
    original = generate_module.event_arrays

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return original(*args, **kwargs)

    monkeypatch.setattr(generate_module, "event_arrays", flaky)
    config = {**base_config, "generation": {**base_config["generation"], "batch_size": 10}}
    with pytest.raises(RuntimeError, match="disk on fire"):
        generate_module.generate_shard(
            get_process("ttbar_dilepton"), 30, 3, out, config, progress=False
        )
    assert out.read_bytes() == b"previous good content"
    assert [p.name for p in tmp_path.iterdir()] == ["shard.root"]


@pytest.mark.parametrize("process, m_a", [("haa_4b_ma30", 30.0), ("haa_4b_ma60", 60.0)])
def test_haa_truth_a_mass_is_the_configured_value(samples, process, m_a):
    events = samples.events(process, 60)
    pdg, mothers = events.GenPart_pdgId, events.GenPart_genPartIdxMother
    a_mass = events.GenPart_mass[pdg == 36]
    assert ak.all(ak.num(a_mass) == 2)  # H -> a a in every event
    masses = ak.flatten(a_mass).to_numpy()
    # Narrow a (36:mWidth = 0.01): the truth mass sits at m_a, a few events a few 100 MeV off.
    assert np.median(masses) == pytest.approx(m_a, abs=0.02)
    assert np.mean(np.abs(masses - m_a) < 0.5) > 0.95
    higgs_mass = ak.flatten(events.GenPart_mass[pdg == 25]).to_numpy()
    np.testing.assert_allclose(higgs_mass, 125.0, atol=1.0)
    # Each a decays to b b̄ inside the truth record.
    mother_pdg = pdg[ak.where(mothers >= 0, mothers, 0)]
    assert ak.all(ak.sum((np.abs(pdg) == 5) & (mother_pdg == 36) & (mothers >= 0), axis=1) == 4)


def _leading_dimuon_mass(events):
    two = events[(events.nMuon >= 2)]
    pt, eta, phi, m = (two[f"Muon_{f}"][:, :2] for f in ("pt", "eta", "phi", "mass"))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    mass = np.sqrt(
        np.maximum(
            ak.sum(e, 1) ** 2 - ak.sum(px, 1) ** 2 - ak.sum(py, 1) ** 2 - ak.sum(pz, 1) ** 2, 0
        )
    )
    opposite = two.Muon_charge[:, 0] != two.Muon_charge[:, 1]
    return mass[opposite].to_numpy(), two.weight[opposite].to_numpy()


def test_upsilon_peak_in_dimuon_lowmass_and_its_weight(samples):
    """Υ(1S) at 9.46 GeV stands out of the reco opposite-sign dimuon spectrum; the forced
    Υ → μμ decay is paid for in the weight (BR(1S → μμ) = 2.48%)."""
    events = samples.events("dimuon_lowmass", 2000)
    mass, _ = _leading_dimuon_mass(events)
    peak = np.sum((mass > 9.2) & (mass < 9.7)) / 0.5
    sidebands = (np.sum((mass > 6.0) & (mass < 8.5)) + np.sum((mass > 11.0) & (mass < 15.0))) / 6.5
    assert peak > 10 and peak > 4 * sidebands, (peak, sidebands)
    pdg = np.abs(events.GenPart_pdgId)
    upsilon_1s = ak.any(pdg == 553, axis=1).to_numpy()
    nominal_ratio = events.weight.to_numpy()[upsilon_1s] / 0.0248
    assert upsilon_1s.sum() > 5
    # Residual spread is Pythia's own bias weight (pTHat^4).
    assert np.all(nominal_ratio > 0) and np.all(nominal_ratio < 1.0 / 0.0248)
