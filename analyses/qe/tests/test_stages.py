"""The qe_unfold and qe_summary stages end to end on synthetic observables: every table,
the status of a method that cannot be unfolded, the summary and its plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analyses.qe import measure, summary
from analyses.qe.parton import COLUMNS as PARTON_COLUMNS
from analyses.qe.parton import parton_rows
from analyses.qe.paths import PLOTS
from analyses.qe.reconstruct import PAIRING_COLUMNS
from analyses.qe.tests.test_unfold import _synthetic
from evenet.io.results import write_csv

RUNS = [("pretrained", "5000"), ("pretrained", "all"), ("scratch", "5000"), ("scratch", "all")]


def _label(mode, size):
    return f"evenet_main_{mode}_size{size}_seed1"


def _write_inputs(folder):
    parton, reco = _synthetic(30_000, seed=11)
    observables = folder / "observables"
    observables.mkdir(parents=True)
    parton.to_parquet(observables / "parton.parquet")
    methods = {"analytic": {"method": "analytic", "samples": 2, "seconds": 0.1}}
    reco.to_parquet(observables / "analytic.parquet")
    for mode, size in RUNS:
        reco.to_parquet(observables / f"{_label(mode, size)}.parquet")
        methods[_label(mode, size)] = {
            "method": "evenet",
            "run": "main",
            "mode": mode,
            "size": size,
            "seed": "1",
            "samples": 2,
            "fallback_fraction": 0.0,
            "seconds": 0.1,
        }
    # a method with a handful of events: its response cannot be built
    reco[reco["event"] < 40].to_parquet(observables / "analytic_truth_nu.parquet")
    methods["analytic_truth_nu"] = {"method": "analytic_truth_nu", "samples": 2, "seconds": 0.0}
    info = {
        "m_top": 173.0,
        "m_w": 80.385,
        "test_events": len(parton),
        "selected": int(parton["selected"].sum()),
        "half_a_selected": int((parton["selected"] & (parton["half"] == 0)).sum()),
        "half_b_selected": int((parton["selected"] & (parton["half"] == 1)).sum()),
        "matchable_selected": int(parton["selected"].sum()),
        "methods": methods,
    }
    (folder / "reconstruction.json").write_text(json.dumps(info))
    pairing = [
        {
            "method": m["method"],
            "run": m.get("run", ""),
            "mode": m.get("mode", ""),
            "size": m.get("size", ""),
            "seed": m.get("seed", ""),
            "eff_matchable": 0.6,
            "eff_matchable_err": 0.01,
            "eff_all": 0.5,
            "eff_all_err": 0.01,
            "n": 100,
            "n_matchable": 80,
        }
        for label, m in methods.items()
        if label != "analytic_truth_nu"
    ]
    write_csv(folder / "pairing.csv", pairing, PAIRING_COLUMNS)
    write_csv(folder / "parton.csv", parton_rows(parton.assign(beta_z=0.5), 400.0), PARTON_COLUMNS)
    study = [
        {
            "setup": "response train, pseudo-data val + test",
            "response_events": 10,
            "response_selected": 5,
            "data_events": 4,
            "data_selected": 2,
            "quantity": "D_phi",
            "unfolded": -0.5,
            "parton": -0.45,
            "difference": -0.05,
            "sigma_bootstrap": 0.1,
            "sigma_central68": 0.1,
            "invertible_resamples": 9,
            "resamples": 10,
            "status": "",
        }
    ]
    write_csv(folder / "response_study.csv", study, list(study[0]))
    cutflow = [{"step": "all events", "events": 10, "weighted": 10.0, "efficiency": 1.0}]
    write_csv(folder / "cutflow.csv", cutflow, list(cutflow[0]))
    return parton


def test_unfold_and_summary_stages(tmp_path, capsys):
    """Guards the stage CLIs: numbers where the response inverts, a status where it cannot,
    toys whose pulls have width ~1, the cross-checks, summary.md and every plot."""
    _write_inputs(tmp_path)
    code = measure.main(
        [
            "all",
            "--observables",
            str(tmp_path / "observables"),
            "--info",
            str(tmp_path / "reconstruction.json"),
            "--output-dir",
            str(tmp_path),
            "--toys",
            "60",
            "--bootstrap",
            "8",
            "--crosscheck-toys",
            "4",
        ]
    )
    assert code == 0
    spin = pd.read_csv(tmp_path / "spin_matrix.csv", keep_default_na=False)
    unfolded = spin[(spin["level"] == "unfolded") & (spin["method"] == "analytic")]
    assert len(unfolded) == 18 and (unfolded["status"] == "").all()
    assert np.isfinite(unfolded["value"].astype(float)).all()
    failed = spin[spin["method"] == "analytic_truth_nu"]
    assert failed[failed["level"] == "unfolded"]["status"].str.startswith("unfolding failed").all()
    reco = failed[failed["level"] == "reco"]  # detector level needs no response
    assert len(reco) == 18 and (reco["status"] == "").all()
    precision = pd.read_csv(tmp_path / "precision.csv", keep_default_na=False)
    good = precision[precision["status"] == ""]
    assert len(good) == 2 * 5  # D_phi and D of analytic and the four EveNet runs
    assert (good["sigma"].astype(float) > 0).all()
    widths = good["pull_width"].astype(float)
    assert ((widths > 0.6) & (widths < 1.4)).all()
    crosscheck = pd.read_csv(tmp_path / "crosscheck.csv", keep_default_na=False)
    assert set(crosscheck["method"]) == {"analytic", "evenet"}
    assert np.isfinite(crosscheck["iterative"].astype(float)).all()
    closure = pd.read_csv(tmp_path / "closure.csv", keep_default_na=False)
    assert set(closure["quantity"]) == set(measure.CLOSURE_QUANTITIES)
    report = json.loads((tmp_path / "unfolding.json").read_text())
    assert set(report["methods"]["analytic"]["region_migration"]) == {
        "p_reco_low_given_truth_low",
        "p_reco_low_given_truth_high",
        "reco_low_purity",
    }

    assert summary.main(["--results", str(tmp_path)]) == 0
    text = (tmp_path / "summary.md").read_text()
    assert "D_φ unfolded" in text and "unfolding failed" in text and "39.3 pb" not in text
    assert "evenet pretrained 5000 (seed 1)" in text
    for name in PLOTS:
        for suffix in ("png", "pdf"):
            assert (tmp_path / "plots" / f"{name}.{suffix}").stat().st_size > 1000, name
