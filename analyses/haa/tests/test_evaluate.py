"""analyses.haa.evaluate: expected yields of the test events, and the metrics of a method."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analyses.haa.evaluate import Settings, evaluate, load_test_events
from evenet.io.predictions import dataset_table
from tests.shard_factory import write_dataset

SETTINGS = Settings(masses={"haa_4b_ma30": 30}, signal_class="class0", bootstrap=20)


@pytest.fixture(scope="module")
def listed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("haa_evaluate")
    manifest = write_dataset(
        folder / "ds",
        4000,
        samples={"haa_4b_ma30": 2, "qcd_bb_pthat40": 24},
        class_map={2: 0, 24: 1},
    )
    record = json.loads(manifest.read_text())
    record["samples"]["qcd_bb_pthat40"]["xsec_pb"] = 1000.0
    manifest.write_text(json.dumps(record))
    table = dataset_table(folder / "ds", ["process"])
    keep = np.arange(table.num_rows) % 2 == 0
    pq.write_table(table.filter(pa.array(keep)).select(["sample", "run", "event"]), folder / "l")
    return folder / "ds", folder / "l", table


def test_yields_are_luminosity_times_sigma_over_the_test_split_sum_of_weights(listed):
    """Guards the normalisation: the listed half of each sample's test split carries half its
    cross section (signal: σ(gg→H) for μ = 1), whatever fraction of events the list holds."""
    dataset, events, table = listed
    test = load_test_events(str(dataset), str(events), SETTINGS)
    luminosity_pb = SETTINGS.luminosity_fb * 1000
    in_test = table["split"].to_numpy() == 2
    sample = np.asarray(table["sample"].to_pylist())
    weight = dataset_table(dataset, ["weight"])["weight"].to_numpy()
    listed_rows = np.arange(table.num_rows) % 2 == 0
    for name, sigma, is_signal in (
        ("haa_4b_ma30", SETTINGS.sigma_ggh_pb, True),
        ("qcd_bb_pthat40", 1000.0, False),
    ):
        mine = in_test & (sample == name)
        fraction = weight[mine & listed_rows].sum() / weight[mine].sum()
        mine = (test.mass == 30) if is_signal else test.background
        assert test.yields[mine].sum() == pytest.approx(luminosity_pb * sigma * fraction)


def test_a_perfect_score_separates_and_limits_fall_with_separation(listed, tmp_path):
    """Guards the plumbing from a scores file to metrics.csv rows: a score that puts every
    signal event above every background event gives AUC 1; a random score gives about 0.5
    and a weaker limit."""
    dataset, events, _ = listed
    test = load_test_events(str(dataset), str(events), SETTINGS)
    rng = np.random.default_rng(3)
    methods = []
    for name, score in (
        ("separating", (test.mass == 30) * 0.5 + rng.random(len(test.mass)) * 0.5),
        ("random", rng.random(len(test.mass))),
    ):
        path = tmp_path / f"{name}.parquet"
        out = test.keys.append_column("score", pa.array(score))
        flat = pa.array(np.full(4 * len(score), -1, np.int16))
        pq.write_table(out.append_column("pairs", pa.FixedSizeListArray.from_arrays(flat, 4)), path)
        methods.append({"method": name, "size": "all", "seed": 1, "kind": "scores", "path": path})
    # 10 pb^-1: O(100) signal and O(1000) background events, yields pyhf's fits handle
    settings = Settings(**{**SETTINGS.__dict__, "luminosity_fb": 0.01})
    rows, limit_rows, curves, statuses = evaluate(
        methods, str(dataset), str(events), settings, log=lambda _: None
    )
    by_method = {r["method"]: r for r in rows}
    assert by_method["separating"]["auc"] == pytest.approx(1.0)
    assert abs(by_method["random"]["auc"] - 0.5) < 0.1
    assert by_method["separating"]["n_signal_test"] == int((test.mass == 30).sum())
    limits = {r["method"]: r["median"] for r in limit_rows}
    assert limits["separating"] < limits["random"]
    assert {c["method"] for c in curves} == {"separating", "random"}
    assert all(s["status"] == "ok" for s in statuses)
