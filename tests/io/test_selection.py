"""evenet.io.selection: fine-tuning datasets of the events an analysis selected."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evenet.data import make_loader
from evenet.io.columns import to_numpy
from evenet.io.manifest import load_manifest
from evenet.io.predictions import dataset_table
from evenet.io.selection import Selection, SelectionError, ensure_selected, select_events
from tests.shard_factory import write_dataset

QUIET = {"log": lambda _: None}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("select_ds")
    write_dataset(folder, 3000, shard_events=500, row_group_events=250)
    return folder


@pytest.fixture(scope="module")
def everything(dataset):
    return dataset_table(dataset, ["x", "process"])


def _list(path, table: pa.Table):
    pq.write_table(table.select(["sample", "run", "event"]), path)
    return path


def _ids(folder) -> set[tuple]:
    table = dataset_table(folder, ["process"])
    return set(zip(*(table[c].to_pylist() for c in ("sample", "run", "event")), strict=True))


def test_only_listed_train_and_val_events_with_every_column(dataset, everything, tmp_path):
    """Guards against unlisted events leaking in, test events used for training, or columns
    copied from the wrong rows."""
    half = everything.filter(pa.array(np.arange(everything.num_rows) % 2 == 0))
    events = _list(tmp_path / "list.parquet", half)
    select_events(dataset, Selection(events), tmp_path / "sel", **QUIET)
    chosen = dataset_table(tmp_path / "sel", ["x", "process"])
    listed = dict(
        zip(
            zip(*(half[c].to_pylist() for c in ("sample", "run", "event")), strict=True),
            range(half.num_rows),
            strict=True,
        )
    )
    assert set(to_numpy(chosen["split"])) <= {0, 1}
    is_test = to_numpy(half["split"]) == 2
    labelled = np.isin(to_numpy(half["process"]), [1, 24])  # process 7 has no class
    assert chosen.num_rows == int((~is_test & labelled).sum())
    x_parent, x_chosen = to_numpy(half["x"]), to_numpy(chosen["x"])
    for row, key in enumerate(
        zip(*(chosen[c].to_pylist() for c in ("sample", "run", "event")), strict=True)
    ):
        np.testing.assert_array_equal(x_chosen[row], x_parent[listed[key]])
    manifest = load_manifest(tmp_path / "sel")
    assert sum(sum(c) for c in manifest["counts"].values()) == chosen.num_rows
    assert (tmp_path / "sel" / "stats.json").is_file()
    loader = make_loader(tmp_path / "sel", split="train", batch_size=16, num_workers=0)
    assert sum(len(b["event"]) for b in loader) == int((to_numpy(chosen["split"]) == 0).sum())


def test_stratified_sizes_have_exact_shares_and_are_nested(dataset, everything, tmp_path):
    """Guards against shares off by sampling noise and size scans drawing unrelated events."""
    events = _list(tmp_path / "list.parquet", everything)
    chosen = {}
    for size in (100, 300):
        out = tmp_path / f"s{size}"
        select = Selection(events, size=size, stratify={"class0": 0.1})
        select_events(dataset, select, out, **QUIET)
        table = dataset_table(out, ["process"], ["train"])
        process = to_numpy(table["process"])
        assert len(process) == size and int((process == 1).sum()) == size // 10
        chosen[size] = _ids(out) - set(
            zip(
                *(
                    dataset_table(out, [], ["val"])[c].to_pylist()
                    for c in ("sample", "run", "event")
                ),
                strict=True,
            )
        )
    assert chosen[100] < chosen[300]


def test_val_fraction_resplits_deterministically(dataset, everything, tmp_path):
    events = _list(tmp_path / "list.parquet", everything)
    for out in ("a", "b"):
        select_events(dataset, Selection(events, val_fraction=0.3), tmp_path / out, **QUIET)
    split = to_numpy(dataset_table(tmp_path / "a")["split"])
    assert 0.25 < (split == 1).mean() < 0.35
    np.testing.assert_array_equal(split, to_numpy(dataset_table(tmp_path / "b")["split"]))


def test_include_test_trains_on_every_listed_labelled_event(dataset, everything, tmp_path):
    """An analysis with folds of its own (anomaly) trains on test-split events too."""
    events = _list(tmp_path / "list.parquet", everything)
    select_events(
        dataset, Selection(events, val_fraction=0.2, include_test=True), tmp_path / "all", **QUIET
    )
    chosen = dataset_table(tmp_path / "all", ["process"])
    labelled = np.isin(to_numpy(everything["process"]), [1, 24])
    assert (to_numpy(everything["split"])[labelled] == 2).any()
    assert chosen.num_rows == int(labelled.sum())
    assert set(to_numpy(chosen["split"])) == {0, 1}
    with pytest.raises(SelectionError, match="include_test needs val_fraction"):
        select_events(dataset, Selection(events, include_test=True), tmp_path / "o", **QUIET)


def test_bad_lists_and_settings_are_named(dataset, everything, tmp_path):
    events = _list(tmp_path / "list.parquet", everything)
    with pytest.raises(SelectionError, match="at most"):
        select_events(
            dataset,
            Selection(events, size=10**6, stratify={"class0": 0.5}),
            tmp_path / "o",
            **QUIET,
        )
    with pytest.raises(SelectionError, match="neither a class"):
        select_events(dataset, Selection(events, stratify={"signal": 0.1}), tmp_path / "o", **QUIET)
    twice = _list(tmp_path / "twice.parquet", pa.concat_tables([everything, everything]))
    with pytest.raises(SelectionError, match="listed twice"):
        select_events(dataset, Selection(twice), tmp_path / "o", **QUIET)
    stranger = everything.slice(0, 3)
    stranger = stranger.set_column(2, "event", pa.array([10**9, 1, 2], pa.int64()))
    with pytest.raises(SelectionError, match=r"1 event\(s\) of .* are not in"):
        select_events(
            dataset, Selection(_list(tmp_path / "s.parquet", stranger)), tmp_path / "o", **QUIET
        )
    assert not (tmp_path / "o").exists()


def test_a_changed_list_rebuilds_an_unchanged_one_is_reused(dataset, everything, tmp_path):
    events = _list(tmp_path / "list.parquet", everything.slice(0, 800))
    out = tmp_path / "sel"
    ensure_selected(dataset, Selection(events), out, **QUIET)
    first = _ids(out)
    lines = []
    ensure_selected(dataset, Selection(events), out, log=lines.append)
    assert lines and "reusing" in lines[0]
    _list(events, everything.slice(0, 400))
    ensure_selected(dataset, Selection(events), out, **QUIET)
    assert _ids(out) < first


def test_stratify_by_sample_fixes_each_samples_share(dataset, everything, tmp_path):
    """Guards the per-sample shares (haa: a third of the 10% signal per mass point): each named
    sample gets exactly its share of the training events, the rest the remainder."""
    events = _list(tmp_path / "list.parquet", everything)
    shares = {"ttbar_dilepton": 0.1, "wjets": 0.2}
    select_events(dataset, Selection(events, 500, shares), tmp_path / "sel", **QUIET)
    train = dataset_table(tmp_path / "sel", ["process"], ["train"])
    sample = np.asarray(train["sample"].to_pylist())
    assert len(sample) == 500
    assert (sample == "ttbar_dilepton").sum() == 50 and (sample == "wjets").sum() == 100
    with pytest.raises(SelectionError, match="overlap"):
        select_events(
            dataset, Selection(events, 100, {"class0": 0.1, "ttbar_dilepton": 0.1}), tmp_path / "x"
        )
