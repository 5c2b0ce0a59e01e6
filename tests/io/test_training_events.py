"""evenet.io.training_events: other methods get exactly EveNet's training events and weights."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evenet.io.predictions import dataset_table
from evenet.io.selection import Selection, ensure_selected
from evenet.io.training_events import (
    TrainingEventsError,
    listed_test_events,
    rows_of,
    training_events,
)
from evenet.train.weights import process_factors
from tests.shard_factory import write_dataset

QUIET = {"log": lambda _: None}


@pytest.fixture(scope="module")
def listed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("training_events")
    write_dataset(folder / "ds", 3000, shard_events=500, row_group_events=250)
    table = dataset_table(folder / "ds", ["process"])
    keep = np.arange(table.num_rows) % 3 != 0
    pq.write_table(table.filter(pa.array(keep)).select(["sample", "run", "event"]), folder / "l")
    return folder / "ds", folder / "l", table.filter(pa.array(keep))


def _keys(table):
    return set(zip(*(table[c].to_pylist() for c in ("sample", "run", "event")), strict=True))


def test_same_events_and_weights_as_the_fine_tuning(listed, tmp_path):
    """Guards against a baseline trained on other events (size subset, stratification) or with
    other weights than EveNet's run with the same options."""
    dataset, events, _ = listed
    options = {
        "events": {"name": "l", "stratify": {"class1": 0.2}, "val_fraction": None},
        "training": {"train_events": 400, "mix": {"ttbar": 0.5, "background": 0.5}},
    }
    got = training_events(dataset, options, events, tmp_path / "mine", **QUIET)
    # what rule finetune builds for the same run
    reference = ensure_selected(
        dataset, Selection(events, 400, {"class1": 0.2}), tmp_path / "ref", **QUIET
    )
    for split, table in (("train", got.train), ("val", got.val)):
        expected = dataset_table(reference, ["process"], [split])
        assert _keys(table) == _keys(expected)
    assert got.train.num_rows == 400
    assert (got.train["label"].to_numpy() == 1).sum() == 80  # 20% class1 exactly
    factors = process_factors(reference, options["training"]["mix"])
    process = got.train["process"].to_numpy()
    expected_weight = got.train["weight"].to_numpy() * np.array([factors[int(p)] for p in process])
    np.testing.assert_allclose(got.train["train_weight"].to_numpy(), expected_weight)
    assert got.classes == ["class0", "class1"]


def test_listed_test_events_are_the_listed_events_of_the_test_split(listed):
    dataset, events, kept = listed
    test = listed_test_events(dataset, events, ["x"])
    expected = kept.filter(pa.array(kept["split"].to_numpy() == 2))
    assert _keys(test) == _keys(expected) and test.num_rows == expected.num_rows
    assert (rows_of(test, expected) >= 0).all()
    assert "x" in test.column_names and "weight" in test.column_names


def test_a_run_without_an_event_list_is_refused(listed, tmp_path):
    dataset, events, _ = listed
    with pytest.raises(TrainingEventsError, match="events"):
        training_events(dataset, {"training": {}}, events, tmp_path, **QUIET)
    with pytest.raises(TrainingEventsError, match="does not exist"):
        training_events(dataset, {"events": {"name": "x"}}, tmp_path / "no.parquet", tmp_path)
