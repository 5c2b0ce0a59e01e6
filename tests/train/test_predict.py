"""Per-event prediction output: row alignment, head outputs, determinism, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from evenet import __version__
from evenet.io.columns import to_numpy
from evenet.io.manifest import load_manifest, sha256_file, shard_entries, write_json_atomic
from evenet.io.stats import write_stats
from evenet.io.topologies import load_topologies
from evenet.model.checkpoint import checkpoint_payload, save_checkpoint
from evenet.model.config import preset
from evenet.model.model import EveNet
from evenet.train import predict as predict_module
from evenet.train.predict import METADATA_KEY, PredictionError, predict
from tests.shard_factory import write_dataset

TASKS = ("classification", "assignment", "segmentation", "neutrino_generation")
BATCH = 32
QUIET = {"log": lambda _: None}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """900 events in 3 samples x 2 shards x 3 row groups, real topologies, stats."""
    folder = tmp_path_factory.mktemp("predict_ds")
    manifest_file = write_dataset(folder, 900, shard_events=150, row_group_events=50)
    manifest = load_manifest(manifest_file)
    manifest["topologies"] = load_topologies().summary()
    write_json_atomic(manifest_file, manifest)
    write_stats(folder)
    return folder


@pytest.fixture(scope="module")
def checkpoint(dataset, tmp_path_factory) -> Path:
    """An untrained tiny model with every head the output has columns for."""
    manifest = load_manifest(dataset)
    stats = json.loads((dataset / "stats.json").read_text())
    torch.manual_seed(0)
    model = EveNet(preset("tiny", num_classes=2, tasks=TASKS), stats, manifest["topologies"])
    path = tmp_path_factory.mktemp("predict_ckpt") / "model.pt"
    return save_checkpoint(
        path, checkpoint_payload(model, stats=stats, class_map=manifest["class_map"])
    )


@pytest.fixture(scope="module")
def shards(dataset) -> dict[str, np.ndarray]:
    """The test split's columns, read straight from the shards in manifest order."""
    names = ["run", "event", "split", "process", "weight", "x_mask", "topology"]
    parts: dict[str, list] = {name: [] for name in names}
    for entry in shard_entries(load_manifest(dataset), dataset):
        table = pq.read_table(entry.path, columns=names)
        for name in names:
            parts[name].append(to_numpy(table.column(name)))
    columns = {name: np.concatenate(values) for name, values in parts.items()}
    test = columns["split"] == 2
    assert len(np.unique(columns["process"][test])) == 3  # process 7 has no class
    return {name: values[test] for name, values in columns.items()}


@pytest.fixture(scope="module")
def prediction(checkpoint, dataset, shards, tmp_path_factory) -> Path:
    assert len(shards["event"]) % BATCH, "the last batch must be partial"
    output = tmp_path_factory.mktemp("predict_out") / "test.parquet"
    predict(
        checkpoint,
        dataset,
        output,
        batch_size=BATCH,
        neutrino_samples=2,
        diffusion_steps=2,
        hypotheses=["ttbar_dilepton", "haa_4b"],
        **QUIET,
    )
    return output


def _column(path: Path, name: str) -> np.ndarray:
    return to_numpy(pq.read_table(path, columns=[name]).column(name))


def _neutrinos(checkpoint, dataset, output: Path, seed: int) -> np.ndarray:
    predict(
        checkpoint,
        dataset,
        output,
        batch_size=BATCH,
        neutrino_samples=2,
        diffusion_steps=2,
        seed=seed,
        **QUIET,
    )
    return _column(output, "neutrinos")


def test_rows_align_with_the_test_split_in_file_order(prediction, shards, dataset):
    """Guards against shuffled, dropped (partial batch, unlabelled process) or misaligned rows."""
    table = pq.read_table(prediction)
    assert table.num_rows == len(shards["event"])
    for name in ("run", "event", "process", "weight"):
        np.testing.assert_array_equal(_column(prediction, name), shards[name], err_msg=name)
    assert table.schema.field("event").type == "int64"
    assert table.schema.field("process").type == "int32"
    assert (_column(prediction, "split") == 2).all()
    samples = [
        pq.read_table(e.path, columns=["sample", "split"]).to_pydict()
        for e in shard_entries(load_manifest(dataset), dataset)
    ]
    expected = [
        s for part in samples for s, k in zip(part["sample"], part["split"], strict=True) if k == 2
    ]
    assert table.column("sample").to_pylist() == expected


def test_several_splits_go_into_one_file_split_by_split(checkpoint, dataset, shards, tmp_path):
    """Guards against a split column that disagrees with the rows, or splits interleaved."""
    output = tmp_path / "two.parquet"
    result = predict(checkpoint, dataset, output, splits=["val", "test"], batch_size=BATCH, **QUIET)
    split = _column(output, "split")
    n_val = result["events"]["val"]
    assert n_val > 0 and result["events"]["test"] == len(shards["event"])
    np.testing.assert_array_equal(split, np.repeat([1, 2], [n_val, len(shards["event"])]))
    np.testing.assert_array_equal(_column(output, "event")[n_val:], shards["event"])


def test_loader_workers_keep_the_file_order(prediction, checkpoint, dataset, tmp_path):
    """Guards against rows interleaved by worker (the loader hands out batch j from j % K)."""
    output = tmp_path / "workers.parquet"
    predict(checkpoint, dataset, output, batch_size=BATCH, num_workers=2, **QUIET)
    for name in ("event", "scores", "segmentation"):
        np.testing.assert_array_equal(_column(output, name), _column(prediction, name), name)
    assert [p.name for p in tmp_path.iterdir()] == [output.name]  # part files removed


def test_scores_are_probabilities_over_every_class(prediction, shards):
    """Guards against raw logits, a wrong class count or a predicted class off the argmax."""
    scores = _column(prediction, "scores")
    assert scores.shape == (len(shards["event"]), 2) and scores.dtype == np.float32
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)
    assert (scores >= 0).all()
    np.testing.assert_array_equal(_column(prediction, "predicted_class"), scores.argmax(-1))


def test_metadata_records_provenance(prediction, checkpoint, dataset):
    """Guards against an output that cannot be traced to its model, data, split and classes."""
    metadata = json.loads(pq.read_schema(prediction).metadata[METADATA_KEY])
    assert metadata["checkpoint"] == str(checkpoint)
    assert metadata["dataset"] == str(dataset)
    assert metadata["splits"] == ["test"]
    assert metadata["checkpoint_sha256"] == sha256_file(checkpoint)
    assert metadata["manifest_sha256"] == sha256_file(dataset / "manifest.json")
    assert metadata["classes"] == load_manifest(dataset)["classes"]
    assert metadata["evenet_version"] == __version__
    assert metadata["neutrino_samples"] == 2


def test_every_event_gets_every_hypothesis_without_truth(prediction, shards):
    """Guards against issue 13 §9: the assignment came from the head of the event's TRUTH
    topology (a truth leak, and -1 for background and data). Now every event gets each
    hypothesis, exclusively decoded, on real objects only."""
    table = pq.read_table(prediction)
    assert "assignment" not in table.column_names and "topology" not in table.column_names
    n = len(shards["event"])
    for name, width in (("ttbar_dilepton", 2), ("haa_4b", 2)):
        assignment = _column(prediction, f"assignment.{name}")
        probability = _column(prediction, f"assignment_probability.{name}")
        detection = _column(prediction, f"detection.{name}")
        assert assignment.shape == (n, 2, width) and assignment.dtype == np.int16
        rows, slots = np.nonzero((assignment >= 0).reshape(n, -1))
        assert shards["x_mask"][rows, assignment.reshape(n, -1)[rows, slots]].all()
        for event in assignment.reshape(n, -1):  # exclusive: no object serves twice
            picked = event[event >= 0]
            assert len(set(picked.tolist())) == len(picked)
        pair = (assignment >= 0).all(-1)
        np.testing.assert_array_equal(pair.sum(-1), np.minimum(2, shards["x_mask"].sum(-1) // 2))
        np.testing.assert_array_equal(probability > 0, pair)
        assert ((detection >= 0) & (detection <= 1)).all()
        # background events (other topologies) get the hypothesis too
        assert pair[shards["topology"] != 1].any()


def test_an_unknown_hypothesis_is_refused(checkpoint, dataset, tmp_path):
    with pytest.raises(PredictionError, match=r"hypotheses \['zz_4l'\]"):
        predict(checkpoint, dataset, tmp_path / "p.parquet", hypotheses=["zz_4l"], **QUIET)


def test_segmentation_marks_only_real_objects(prediction, shards):
    """Guards against resonance rows predicted for padded object slots or out of range."""
    segmentation = _column(prediction, "segmentation")
    assert segmentation.shape == (len(shards["event"]), 18) and segmentation.dtype == np.int8
    assert (segmentation[~shards["x_mask"]] == -1).all()
    types = json.loads(pq.read_schema(prediction).metadata[METADATA_KEY])["segmentation_types"]
    assert types == ["H", "W", "Y", "Z", "a", "t"]
    assert ((segmentation >= -1) & (segmentation < len(types))).all()
    instance = _column(prediction, "segmentation_instance")
    assert ((instance == -1) == (segmentation == -1)).all()


def test_neutrino_samples_are_deterministic_per_seed(prediction, checkpoint, dataset, tmp_path):
    """Guards against unseeded sampling (irreproducible) or a seed that is ignored."""
    first = _column(prediction, "neutrinos")
    assert first.shape == (len(_column(prediction, "event")), 2, 2, 3)
    assert np.isfinite(first).all() and (first[..., 0] >= 0).all()  # raw pT
    again = _neutrinos(checkpoint, dataset, tmp_path / "again.parquet", seed=0)
    other = _neutrinos(checkpoint, dataset, tmp_path / "other.parquet", seed=1)
    np.testing.assert_array_equal(again, first)
    assert not np.allclose(other, first)


def test_every_event_gets_neutrino_existence_probabilities(prediction):
    """Guards the per-slot existence output: one probability per slot, for every event."""
    exist = _column(prediction, "neutrinos_exist")
    assert exist.shape == (len(_column(prediction, "event")), 2) and exist.dtype == np.float32
    assert ((exist > 0) & (exist < 1)).all()


def test_a_successful_run_leaves_only_the_output(prediction):
    """Guards against a temporary file left beside the output."""
    assert sorted(p.name for p in prediction.parent.iterdir()) == [prediction.name]


def test_a_failing_run_leaves_the_existing_output_untouched(
    checkpoint, dataset, tmp_path, monkeypatch
):
    """Guards against a crash mid-way replacing a good output with a partial one."""
    output = tmp_path / "predictions.parquet"
    output.write_bytes(b"previous predictions")
    real, calls = predict_module._predict_batch, []

    def fail_on_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(predict_module, "_predict_batch", fail_on_second_batch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        predict(checkpoint, dataset, output, batch_size=BATCH, **QUIET)
    assert output.read_bytes() == b"previous predictions"
    assert [p.name for p in tmp_path.iterdir()] == [output.name]


def test_a_missing_output_folder_is_refused(checkpoint, dataset, tmp_path):
    """Guards against an unclear failure (or a silent mkdir) for a mistyped output folder."""
    with pytest.raises(PredictionError, match="does not exist"):
        predict(checkpoint, dataset, tmp_path / "absent" / "out.parquet", **QUIET)


def test_a_split_without_events_is_refused(checkpoint, tmp_path):
    """Guards against writing an empty file (or a loader error) for an empty split."""
    folder = tmp_path / "no_test"
    write_dataset(folder, 60, fractions=(0.5, 0.5, 0.0))
    with pytest.raises(PredictionError, match="no events"):
        predict(checkpoint, folder, tmp_path / "out.parquet", **QUIET)
    assert not (tmp_path / "out.parquet").exists()
