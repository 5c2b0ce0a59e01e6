"""The stage scripts' file contracts, chained on a toy dataset: select (with an injection)
-> flow -> classify -> generation quality."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from analyses.anomaly import classify_stage, flow_stage, quality_stage, select_stage
from tests.sampling.toy_dimuon import toy_columns, write_toy_dataset

WINDOW = {"sr": [9.5, 10.5], "sb": [8.0, 12.0], "sr_edges": 8, "degree": 2}


def _dataset(folder):
    """Anti-isolated toy dimuons, m ~ U(8, 12) GeV (real data: no signal sample)."""
    columns = toy_columns(2500, seed=5)
    columns["x_extra"][:, :2, 0] = 1.0  # anti-isolated
    write_toy_dataset(folder, 2500, columns=columns)
    return folder


def test_select_flow_classify_and_quality_chain(tmp_path):
    dataset = _dataset(tmp_path / "ds")
    out = tmp_path / "out"
    outputs = {
        "events": out / "selected.parquet",
        "plan": out / "injections.json",
        "sideband": out / "sideband.parquet",
        "sideband_val": out / "sideband_val.parquet",
        "sr_data": out / "sr_data.parquet",
    }
    options = {
        "window": WINDOW,
        "signal_samples": [],
        "injections": [],
        "samples_per_sr_event": 2,
        "val_fraction": 0.25,
        "seed": 1,
    }
    plan = select_stage.run(str(dataset), options, outputs, log=lambda _: None)
    selected = pq.read_table(outputs["events"]).to_pandas()
    entry = plan["injections"]["data"]
    in_sr = selected["opposite_sign"] & selected["mass"].between(9.5, 10.5, inclusive="neither")
    assert entry["sr_events"] == int(in_sr.sum()) > 50
    sideband = pq.read_table(outputs["sideband"]).to_pandas()
    assert (
        len(sideband)
        == plan["sideband_events"]
        == int((selected["opposite_sign"] & ~selected["mass"].between(9.5, 10.5)).sum())
    )
    sr_masses = pq.read_table(outputs["sr_data"]).column("M_ll").to_numpy()
    assert len(sr_masses) == 2 * entry["sr_events"]
    assert sr_masses.min() > 9.5 and sr_masses.max() < 10.5
    val_masses = pq.read_table(outputs["sideband_val"]).column("M_ll").to_numpy()
    assert len(val_masses) == plan["sideband_validation_events"]

    flow_out = {
        "sideband_val": out / "flow_val.parquet",
        "sr_data": out / "flow_sr.parquet",
        "record": out / "flow.json",
    }
    flow_stage.run(
        outputs["events"],
        outputs["sideband"],
        {"sideband_val": outputs["sideband_val"], "sr_data": outputs["sr_data"]},
        flow_out,
        seed=1,
        epochs=3,
        log=lambda _: None,
    )
    record = json.loads(flow_out["record"].read_text())
    assert len(record["history"]) == 3
    samples = pq.read_table(flow_out["sr_data"]).to_pandas()
    assert len(samples) == len(sr_masses) - record["dropped_nonfinite"]["sr_data"]
    assert np.isfinite(samples.to_numpy()).all() and (samples["mu0_ip3d"] >= 0).all()

    scores = {"scores": out / "scores.parquet", "record": out / "scores.json"}
    classify_stage.run(
        outputs["events"],
        outputs["plan"],
        "data",
        "flow",
        flow_out["sr_data"],
        {"sr": WINDOW["sr"], "samples_per_sr_event": 2, "folds": 5, "ensemble": 1, "seed": 0},
        scores,
        log=lambda _: None,
    )
    scored = pq.read_table(scores["scores"]).to_pandas()
    assert len(scored) == len(selected) and scored["score"].between(0, 1).all()

    # too few samples (a CI-scale generator): NaN scores and a status, not a crash
    few = out / "few.parquet"
    pq.write_table(pq.read_table(flow_out["sr_data"]).slice(0, 3), few)
    few_out = {"scores": out / "few_scores.parquet", "record": out / "few.json"}
    options = {"sr": WINDOW["sr"], "samples_per_sr_event": 2, "folds": 5, "ensemble": 1, "seed": 0}
    classify_stage.run(
        outputs["events"], outputs["plan"], "data", "flow", few, options, few_out, log=print
    )
    assert json.loads(few_out["record"].read_text())["status"] == "insufficient_events"
    assert pq.read_table(few_out["scores"]).to_pandas()["score"].isna().all()

    quality = {"table": out / "quality.csv", "plot": out / "quality.png"}
    quality_stage.run(
        outputs["events"],
        outputs["sideband"],
        {"flow/1": str(flow_out["sideband_val"])},
        {"window": WINDOW, "seed": 0},
        quality,
        log=lambda _: None,
    )
    table = pd.read_csv(quality["table"])
    assert list(table["method"]) == ["real_half", "flow"]
    assert table["auc"].between(0.3, 1.0).all() and quality["plot"].is_file()
