"""The dimuon skim of CMS NanoAOD (issue 17, part 2) on 40 real 2018 DoubleMuon events."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from evenet.cli import main
from evenet.io.cms_dimuon import skim

NANO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nano_dimuon.root"
REPO = Path(__file__).resolve().parents[2]


def _by_hand() -> dict[str, set[int]]:
    """The same selection written out with uproot and numpy (no coffea): events of each sign."""
    branches = ["event", *(f"Muon_{f}" for f in ("pt", "charge", "pfRelIso04_all", "tightId"))]
    arrays = uproot.open(NANO)["Events"].arrays(branches, library="np")
    out = {"opposite_sign": set(), "same_sign": set()}
    for i, event in enumerate(arrays["event"]):
        tight = arrays["Muon_tightId"][i].astype(bool)
        pt = arrays["Muon_pt"][i][tight]
        order = np.argsort(-pt)
        if len(order) < 2:
            continue
        lead, sub = order[0], order[1]
        iso = arrays["Muon_pfRelIso04_all"][i][tight]
        charge = arrays["Muon_charge"][i][tight]
        if pt[lead] > 17 and pt[sub] > 8 and iso[lead] >= 0.55 and iso[sub] >= 0.55:
            sign = "opposite_sign" if charge[lead] * charge[sub] < 0 else "same_sign"
            out[sign].add(int(event))
    return out


def test_the_skim_selects_the_two_leading_anti_isolated_tight_muons(tmp_path):
    cutflow = skim(NANO, tmp_path, golden_json=None, trigger=None)
    expected = _by_hand()
    for sign in ("opposite_sign", "same_sign"):
        table = pq.read_table(tmp_path / f"{sign}.parquet").to_pandas()
        assert set(table["event"]) == expected[sign]
        assert (table["mu0_pt"] > 17).all() and (table["mu1_pt"] > 8).all()
        assert (table["mu0_pt"] >= table["mu1_pt"]).all()
        assert (table[["mu0_pfRelIso04_all", "mu1_pfRelIso04_all"]] >= 0.55).all().all()
        product = table["mu0_charge"] * table["mu1_charge"]
        assert ((product < 0) if sign == "opposite_sign" else (product > 0)).all()
    assert cutflow["opposite_sign"] == len(expected["opposite_sign"]) > 0
    steps = [cutflow[k] for k in ("events", "two_tight_muons", "pt_17_8", "anti_isolated")]
    assert steps == sorted(steps, reverse=True)
    assert json.loads((tmp_path / "cutflow.json").read_text()) == cutflow


def test_certified_sections_and_the_trigger(tmp_path, capsys):
    run = int(uproot.open(NANO)["Events"]["run"].array(library="np")[0])
    other = tmp_path / "other.json"
    other.write_text(json.dumps({str(run + 1): [[1, 100000]]}))
    assert skim(NANO, tmp_path / "a", golden_json=other, trigger=None)["certified"] == 0
    listed = tmp_path / "listed.json"
    listed.write_text(json.dumps({str(run): [[1, 100000]]}))
    assert skim(NANO, tmp_path / "b", golden_json=listed, trigger=None)["certified"] == 40
    argv = ["skim-dimuon", "--input", str(NANO), "--output", str(tmp_path / "c")]
    assert main(argv) == 2  # 2018 data has no 2016H trigger bit
    assert "no trigger branch HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx" in capsys.readouterr().err
    assert not (tmp_path / "c" / "cutflow.json").exists()
    assert main([*argv, "--trigger", "HLT_DoubleMu4_3_Jpsi"]) == 0
    assert json.loads(capsys.readouterr().out)["trigger"] < 40


def test_the_skim_converts_into_muon_point_clouds(tmp_path, base_config):
    from evenet.config import conversion_config
    from evenet.io.columns import to_numpy
    from evenet.io.convert import convert_sample

    skim(NANO, tmp_path / "skim", golden_json=None, trigger=None)
    config = {**base_config, "conversion": conversion_config(base_config, "anomaly")}
    manifest = convert_sample(
        [tmp_path / "skim" / "opposite_sign.parquet"],
        tmp_path / "pc",
        "data_os",
        config,
        fmt="table",
        table_format=REPO / "config" / "table_formats" / "dimuon_skim.yaml",
        log=lambda _: None,
    )
    table = pq.read_table(tmp_path / "pc" / manifest["shards"][0]["path"])
    skimmed = pq.read_table(tmp_path / "skim" / "opposite_sign.parquet")
    mass = to_numpy(table.column("globals_extra"))[:, 0]
    np.testing.assert_allclose(mass, skimmed.column("mass").to_numpy(), rtol=1e-5)
    mask = to_numpy(table.column("x_mask"))
    assert (mask.sum(1) == 2).all()
    extra = to_numpy(table.column("x_extra"))
    np.testing.assert_allclose(
        extra[:, 0, 0], skimmed.column("mu0_pfRelIso04_all").to_numpy(), rtol=1e-6
    )


def test_a_file_that_is_not_nanoaod_is_one_error(tmp_path):
    from evenet.io.cms_dimuon import SkimError

    bad = tmp_path / "bad.root"
    bad.write_text("not root")
    with pytest.raises(SkimError, match="cannot read it as NanoAOD") as info:
        skim(bad, tmp_path / "o", golden_json=None, trigger=None)
    assert "\n" not in str(info.value)  # one line for the user
