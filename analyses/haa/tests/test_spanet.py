"""SPANet's files: the export round trip, the event file's declarations, reading predictions."""

from __future__ import annotations

import json
from types import SimpleNamespace

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from analyses.haa.spanet import (
    EVENT_FILE,
    inputs,
    options_file,
    read_h5_targets,
    run,
    scores_table,
    write_h5,
)


def _events(n=5, slots=18, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, slots, 7))
    x[..., 1] = rng.uniform(20, 100, (n, slots))  # pT
    x[..., 2] = rng.uniform(-2, 2, (n, slots))  # eta
    x[..., 3] = rng.uniform(-3, 3, (n, slots))  # phi
    p = x[..., 1] * np.cosh(x[..., 2])
    x[..., 0] = np.sqrt(p**2 + 10.0**2)  # E for a mass of 10 GeV
    x[..., 4] = rng.integers(0, 2, (n, slots))
    mask = np.arange(slots)[None, :] < rng.integers(4, 9, n)[:, None]
    return x, mask


def test_export_round_trip_keeps_unmatched_targets(tmp_path):
    x, mask = _events()
    targets = np.array(
        [
            [[0, 1], [2, 3]],
            [[-1, -1], [1, 4]],
            [[0, -1], [-1, -1]],
            [[-1] * 2] * 2,
            [[5, 2], [0, 3]],
        ]
    )
    signal = np.array([1, 1, 1, 0, 1])
    path = tmp_path / "f.h5"
    write_h5(path, x, mask, targets, signal)
    back, label = read_h5_targets(path)
    np.testing.assert_array_equal(back, targets)
    np.testing.assert_array_equal(label, signal)


def test_file_holds_what_the_event_file_declares(tmp_path):
    """Guards the export against the event file: every declared input feature (plus MASK),
    every declared particle and daughter, the declared classification."""
    x, mask = _events()
    path = tmp_path / "f.h5"
    write_h5(path, x, mask, np.full((5, 2, 2), -1), np.zeros(5, int))
    declared = yaml.safe_load(EVENT_FILE)
    with h5py.File(path) as file:
        features = set(declared["INPUTS"]["SEQUENTIAL"]["Source"]) | {"MASK"}
        assert set(file["INPUTS/Source"]) == features
        assert all(file[f"INPUTS/Source/{f}"].shape == (5, 18) for f in features)
        assert set(file["TARGETS"]) == set(declared["EVENT"])
        for particle, daughters in declared["EVENT"].items():
            assert set(file[f"TARGETS/{particle}"]) == set(daughters)
        assert set(file["CLASSIFICATIONS/EVENT"]) == set(declared["CLASSIFICATIONS"]["EVENT"])


def test_inputs_mass_and_masked_slots():
    x, mask = _events()
    values = inputs(x, mask)
    np.testing.assert_allclose(values["mass"][mask], 10.0, rtol=1e-4)
    for name in ("pt", "eta", "mass", "sin_phi", "cos_phi", "btag"):
        assert (values[name][~mask] == 0).all()
    np.testing.assert_allclose(values["cos_phi"][mask], np.cos(x[..., 3][mask]), rtol=1e-6)


def test_options_are_explicit():
    files = {k: f"/{k}" for k in ("event", "train", "val")}
    settings = {
        "hidden_dim": 64,
        "epochs": 7,
        "batch_size": 32,
        "learning_rate": 1e-3,
        "classification_loss_scale": 1.0,
    }
    options = options_file(settings, files, seed=3)
    assert options["epochs"] == 7 and options["batch_size"] == 32
    assert options["hidden_dim"] == options["transformer_dim"] == 64
    assert options["classification_loss_scale"] > 0 and options["partial_events"]


@pytest.mark.parametrize(
    "prefixes",
    [("CLASSIFICATIONS", "TARGETS"), ("SpecialKey.Classifications", "SpecialKey.Targets")],
)
def test_predictions_read_back_in_test_order(tmp_path, prefixes):
    """spanet.predict on Python 3.11 names its groups SpecialKey.*: both spellings read."""
    test = pa.table(
        {
            "sample": ["s", "s", "b"],
            "run": [1, 1, 2],
            "event": [5, 6, 7],
            "split": pa.array([2, 2, 2], pa.int8()),
            "process": [2, 2, 24],
            "weight": [1.0, 1.0, 3.0],
        }
    )
    path = tmp_path / "prediction.h5"
    with h5py.File(path, "w") as file:
        file[f"{prefixes[0]}/EVENT/signal"] = np.array([[0.1, 0.9], [0.6, 0.4], [0.8, 0.2]])
        for r, a in enumerate(("a1", "a2")):
            for d, b in enumerate(("b1", "b2")):
                file[f"{prefixes[1]}/{a}/{b}"] = np.array([r * 2 + d, 0, -1])
    out = scores_table(test, path)
    np.testing.assert_allclose(out["score"].to_numpy(), [0.9, 0.4, 0.2], rtol=1e-6)
    assert out["pairs"].to_pylist()[0] == [0, 1, 2, 3]
    assert out["pairs"].to_pylist()[2] == [-1, -1, -1, -1]


def test_without_an_environment_the_run_is_recorded_as_not_run(tmp_path):
    args = SimpleNamespace(
        env=str(tmp_path / "none"),
        settings="{}",
        scores=tmp_path / "scores.parquet",
        info=tmp_path / "info.json",
    )
    info = run(args)
    assert info["status"] == "not_run" and "no SPANet environment" in info["reason"]
    assert json.loads(args.info.read_text())["status"] == "not_run"
    assert pq.read_table(args.scores).num_rows == 0
