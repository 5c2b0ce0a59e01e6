"""evenet.io.predictions.load: predictions joined to their dataset's events."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evenet.io.columns import to_numpy
from evenet.io.manifest import load_manifest, write_json_atomic
from evenet.io.predictions import (
    METADATA_KEY,
    PredictionError,
    dataset_table,
    load,
    manifest_checksum,
)
from tests.shard_factory import write_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("join_ds")
    write_dataset(folder, 600, shard_events=200, row_group_events=100)
    return folder


def _prediction(dataset, path, table: pa.Table, checksum: str | None = None):
    """A prediction file as evenet predict writes it: ids, an output column, provenance."""
    rng = np.random.default_rng(0)
    out = table.select(["sample", "run", "event", "split"]).append_column(
        "score", pa.array(rng.random(table.num_rows).astype(np.float32))
    )
    meta = {"manifest_sha256": checksum or manifest_checksum(dataset)}
    pq.write_table(out.replace_schema_metadata({METADATA_KEY: json.dumps(meta)}), path)
    return out


def test_shuffled_prediction_rows_rejoin_to_the_same_events(dataset, tmp_path):
    """Guards against a join by row position: every row must get its own event's columns."""
    events = dataset_table(dataset, ["x", "weight"], ["test", "val"])
    order = np.random.default_rng(1).permutation(events.num_rows)
    written = _prediction(dataset, tmp_path / "p.parquet", events.take(pa.array(order)))
    joined = load(tmp_path / "p.parquet", dataset, ["x", "weight"])
    assert joined.column_names == [*written.column_names, "x", "weight"]
    np.testing.assert_array_equal(to_numpy(joined["event"]), to_numpy(events["event"])[order])
    np.testing.assert_array_equal(to_numpy(joined["x"]), to_numpy(events["x"])[order])
    np.testing.assert_array_equal(to_numpy(joined["score"]), to_numpy(written["score"]))
    only_test = load(tmp_path / "p.parquet", dataset, ["x"], splits=["test"])
    assert set(to_numpy(only_test["split"])) == {2}
    assert 0 < only_test.num_rows < joined.num_rows


def test_a_predicted_event_missing_from_the_dataset_raises(dataset, tmp_path):
    events = dataset_table(dataset, (), ["test"])
    event = to_numpy(events["event"]).copy()
    event[3] = 10**9
    events = events.set_column(events.column_names.index("event"), "event", pa.array(event))
    _prediction(dataset, tmp_path / "p.parquet", events)
    with pytest.raises(PredictionError, match="1 predicted event.* not in the dataset"):
        load(tmp_path / "p.parquet", dataset, ["x"])


def test_a_prediction_of_another_dataset_version_is_refused(dataset, tmp_path):
    events = dataset_table(dataset, (), ["test"])
    _prediction(dataset, tmp_path / "p.parquet", events, checksum="0" * 64)
    with pytest.raises(PredictionError, match="another version"):
        load(tmp_path / "p.parquet", dataset, ["x"])


def test_a_rebuilt_dataset_invalidates_its_predictions(tmp_path):
    """The checksum covers the manifest: rewriting it (e.g. other samples) is a new version."""
    folder = tmp_path / "ds"
    write_dataset(folder, 120, shard_events=60, row_group_events=60)
    _prediction(folder, tmp_path / "p.parquet", dataset_table(folder, (), ["test"]))
    load(tmp_path / "p.parquet", folder)
    manifest = load_manifest(folder)
    manifest["name"] = "rebuilt"
    write_json_atomic(folder / "manifest.json", manifest)
    with pytest.raises(PredictionError, match="another version"):
        load(tmp_path / "p.parquet", folder)


def test_dataset_columns_alone_without_a_prediction(dataset):
    table = load(None, dataset, ["x_mask", "globals"], ["train"])
    assert table.column_names[:4] == ["sample", "run", "event", "split"]
    assert set(to_numpy(table["split"])) == {0}
    assert to_numpy(table["x_mask"]).shape == (table.num_rows, 18)
    with pytest.raises(PredictionError, match="no column"):
        load(None, dataset, ["nonsense"])
