"""Generator-level B-hadron filter: what it counts, and a filtered sample's bookkeeping."""

from __future__ import annotations

import dataclasses
import math

import awkward as ak
import numpy as np
import pytest
import uproot

from evenet.catalogue import CatalogueError, get_process, load_catalogue, process_from_dict
from evenet.generation.filters import BHadronFilter, FilterError, b_hadron_filter


def _batch(events: list[list[tuple[int, float, float]]]) -> ak.Array:
    """A nextBatch-like array from (pdg id, pT, eta) per particle (phi = 0)."""
    records = []
    for particles in events:
        prt = []
        for pid, pt, eta in particles:
            pz = pt * math.sinh(eta)
            prt.append({"id": pid, "p": {"px": pt, "py": 0.0, "pz": pz, "e": math.hypot(pt, pz)}})
        records.append({"prt": prt})
    return ak.Array(records)


def test_counts_weakly_decaying_b_hadrons_inside_the_cuts():
    cut = BHadronFilter(min_count=2, min_pt_gev=5.0, max_abs_eta=2.5)
    batch = _batch(
        [
            [(511, 10.0, 0.0), (-521, 6.0, 1.0)],  # two weak B: pass
            [(511, 10.0, 0.0), (513, 20.0, 0.0)],  # B*0 decays radiatively: one weak B
            [(511, 10.0, 0.0), (5122, 4.0, 0.0)],  # second below pT
            [(511, 10.0, 0.0), (-531, 30.0, 2.6)],  # second outside |eta|
            [(511, 10.0, 0.0), (-5122, 8.0, -2.4), (211, 50.0, 0.0)],  # Λb bar inside: pass
            [],
        ]
    )
    assert cut.passes(batch).tolist() == [True, False, False, False, True, False]


def test_filter_mapping_is_checked():
    assert b_hadron_filter(None, "x") is None
    parsed = b_hadron_filter({"min_count": 3, "min_pt_gev": 5}, "x")
    assert parsed == BHadronFilter(3, 5.0, math.inf)
    for bad in ({"min_pt_gev": 5}, {"min_count": 2, "eta": 2.5}, {"min_count": 0}, [2]):
        with pytest.raises(FilterError, match="b_hadron_filter"):
            b_hadron_filter(bad, "x")


def test_catalogue_filter_survives_the_job_options_round_trip():
    process = load_catalogue()["qcd_bb_pthat20"]
    assert process.b_hadron_filter == BHadronFilter(2, 5.0, 2.9)
    assert process_from_dict(dataclasses.asdict(process)) == process


def test_catalogue_rejects_a_malformed_filter(tmp_path):
    path = tmp_path / "processes.yaml"
    path.write_text(
        "processes:\n  x:\n    id: 1\n    settings: []\n    b_hadron_filter: {min: 2}\n"
    )
    with pytest.raises(FilterError, match="'x'"):
        load_catalogue(path)
    path.write_text("processes:\n  x:\n    id: 1\n    settings: []\n    b_filter: {}\n")
    with pytest.raises(CatalogueError, match="b_filter"):
        load_catalogue(path)


def test_filtered_sample_writes_the_passing_events_and_scales_sigma(base_config, tmp_path):
    from evenet.generation.generate import generate_shard

    process = get_process("qcd_bb_pthat40")
    unfiltered = dataclasses.replace(process, b_hadron_filter=None)
    tried = 300
    paths = {}
    for name, proc in (("filtered", process), ("unfiltered", unfiltered)):
        paths[name] = tmp_path / f"{name}.root"
        generate_shard(proc, tried, 11, paths[name], base_config, progress=False)
    with uproot.open(paths["filtered"]) as f:
        runs = f["Runs"].arrays(library="np")
        events = f["Events"].arrays(["event", "weight"], library="np")
    with uproot.open(paths["unfiltered"]) as f:
        plain = f["Runs"].arrays(library="np")
        plain_events = f["Events"]["event"].array(library="np")
    kept = len(events["event"])
    assert 0 < kept < tried
    assert runs["genEventCount"][0] == kept and runs["filter_tried"][0] == tried
    assert runs["filter_efficiency"][0] == pytest.approx(kept / tried)  # unit weights
    assert plain["filter_efficiency"][0] == 1.0 and plain["filter_tried"][0] == tried
    # Same seed, same Pythia stream: the kept events are a subset with their original ids,
    # and σ is Pythia's estimate times the efficiency.
    assert np.all(np.diff(events["event"]) > 0) and set(events["event"]) <= set(plain_events)
    assert runs["xsec_pb"][0] == pytest.approx(plain["xsec_pb"][0] * kept / tried)


def _muon_batch(events):
    """A nextBatch-like array from (pdg id, status, pT, eta, phi) per particle."""
    records = []
    for particles in events:
        prt = []
        for pid, status, pt, eta, phi in particles:
            px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
            e = math.sqrt(px**2 + py**2 + pz**2 + 0.1056583755**2)
            prt.append({"id": pid, "status": status, "p": {"px": px, "py": py, "pz": pz, "e": e}})
        records.append({"prt": prt})
    return ak.Array(records)


def test_dimuon_filter_takes_the_two_leading_final_state_muons():
    """Issue 17's background filter: two final-state muons inside |eta| < 2.4 with pT > 17 /
    8 GeV and 5 < m < 16 GeV, either charge; decayed (status < 0) muons do not count."""
    from evenet.generation.filters import DimuonFilter, dimuon_filter

    cut = DimuonFilter(17.0, 8.0, 2.4, min_mass_gev=5.0, max_mass_gev=16.0)
    batch = _muon_batch(
        [
            [(13, 1, 20.0, 0.0, 0.0), (-13, 1, 10.0, 0.0, 0.6)],  # m = 8.4 GeV: pass
            [(13, 1, 20.0, 0.0, 0.0), (13, 1, 10.0, 0.0, 0.6)],  # same sign: pass too
            [(13, 1, 20.0, 0.0, 0.0), (-13, 1, 10.0, 0.0, 3.0)],  # back to back, 28 GeV
            [(13, 1, 20.0, 0.0, 0.0), (-13, 1, 10.0, 0.0, 0.1)],  # m = 1.4 GeV: below 5
            [(13, 1, 16.0, 0.0, 0.0), (-13, 1, 10.0, 0.0, 0.6)],  # leading below 17
            [(13, 1, 20.0, 0.0, 0.0), (-13, -1, 10.0, 0.0, 0.6)],  # second decayed
            [(13, 1, 20.0, 0.0, 0.0), (-13, 1, 10.0, 2.5, 0.6), (211, 1, 30.0, 0.0, 0.6)],
            [(13, 1, 20.0, 0.0, 0.0)],
            [],
        ]
    )
    assert cut.passes(batch).tolist() == [
        True,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
        False,
    ]
    assert dimuon_filter({"lead_pt_gev": 17, "sub_pt_gev": 8}, "here") == DimuonFilter(17.0, 8.0)
    with pytest.raises(FilterError, match="dimuon_filter must be a mapping"):
        dimuon_filter({"lead_pt_gev": 17}, "here")
