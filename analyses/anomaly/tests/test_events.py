"""The analysis's data selection and the signal injection."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from analyses.anomaly.events import (
    AnomalyInputError,
    injection_plan,
    search_name,
    search_rows,
    select,
)
from evenet.io.predictions import to_numpy
from tests.sampling.toy_dimuon import toy_columns, write_toy_dataset


def test_selection_keeps_anti_isolated_pairs_with_their_sign_and_features(tmp_path):
    """Guards against isolated muons, failing pT or the wrong charge flag slipping through,
    and against features read from the wrong slot or column."""
    columns = toy_columns(3000, seed=3)
    rng = np.random.default_rng(1)
    iso = np.where(rng.random(3000) < 0.5, 1.0, 0.1)
    columns["x_extra"][:, 0, 0] = iso
    columns["x_extra"][:, 1, 0] = np.where(rng.random(3000) < 0.8, iso, 0.1)
    same_sign = rng.random(3000) < 0.3
    columns["x"][same_sign, 1, 6] = columns["x"][same_sign, 0, 6]
    write_toy_dataset(tmp_path / "ds", 3000, columns=columns)
    table = select(tmp_path / "ds", (5.0, 16.0))

    x, extra, mass = columns["x"], columns["x_extra"], columns["globals_extra"][:, 0]
    expected = (
        (extra[:, :2, 0] >= 0.55).all(1)
        & (x[:, 0, 1] > 17)
        & (x[:, 1, 1] > 8)
        & (np.abs(x[:, :2, 2]) < 2.4).all(1)
        & (mass >= 5)
        & (mass <= 16)
    )
    assert 200 < expected.sum() < 3000
    np.testing.assert_array_equal(to_numpy(table.column("event")), np.flatnonzero(expected))
    np.testing.assert_array_equal(to_numpy(table.column("opposite_sign")), ~same_sign[expected])
    np.testing.assert_allclose(to_numpy(table.column("mu1_ip3d")), extra[expected, 1, 1])
    np.testing.assert_allclose(
        to_numpy(table.column("dimuon_pt")), columns["globals_extra"][expected, 1]
    )


def test_a_dataset_without_the_anomaly_features_is_named(tmp_path):
    from tests.shard_factory import write_dataset

    write_dataset(tmp_path / "plain", 600, shard_events=300, row_group_events=150)
    with pytest.raises(AnomalyInputError, match="x_extra feature 'iso'.*anomaly"):
        select(tmp_path / "plain", (5.0, 16.0))


def _events(n_background=2000, n_signal=400, seed=0) -> pa.Table:
    rng = np.random.default_rng(seed)
    mass = np.r_[rng.uniform(5, 16, n_background), rng.normal(9.8, 0.1, n_signal)]
    mass[n_background : n_background + 40] = 12.0  # a signal tail in the sidebands
    n = n_background + n_signal
    return pa.table(
        {
            "sample": ["bkg"] * n_background + ["sig"] * n_signal,
            "run": np.zeros(n, np.int64),
            "event": np.arange(n, dtype=np.int64),
            "mass": mass,
            "opposite_sign": np.ones(n, bool),
        }
    )


def test_injections_take_nested_prefixes_with_the_requested_sr_signal():
    table = _events()
    rank, plan = injection_plan(table, ["sig"], [0, 1, 2.5, 5], (9.0, 10.6), (5.0, 16.0))
    mass = to_numpy(table.column("mass"))
    b_sr = int(np.sum((mass[:2000] > 9) & (mass[:2000] < 10.6)))
    assert plan["b_sr"] == b_sr
    table = table.append_column("signal_rank", pa.array(rank))
    previous: set = set()
    for k in (0, 1, 2.5, 5):
        entry = plan["injections"][search_name(k)]
        assert entry["signal_sr"] == round(k * math.sqrt(b_sr))
        rows = search_rows(table, entry["signal_total"])
        signal = rows[rows >= 2000]
        assert len(rows) - len(signal) == 2000
        in_sr = (mass[signal] > 9) & (mass[signal] < 10.6)
        assert in_sr.sum() == entry["signal_sr"]
        assert entry["signal_sb"] == int((~in_sr).sum())
        assert previous <= set(signal.tolist())
        previous = set(signal.tolist())
    assert search_name(2.5) == "inj2p5" and search_rows(table, None).size == table.num_rows


def test_an_injection_larger_than_the_signal_samples_is_named():
    with pytest.raises(AnomalyInputError, match="needs .* signal events in the SR"):
        injection_plan(_events(n_signal=60), ["sig"], [5], (9.0, 10.6), (5.0, 16.0))
