"""evenet.data: streaming shards, split/process selection, shuffling, DDP plans, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from evenet.data import DataError, ShardDataset, make_loader
from evenet.io.manifest import ManifestError
from tests.shard_factory import CLASS_MAP, truth, write_dataset

BATCH = 64


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("shards")).parent


@pytest.fixture(scope="module")
def events(dataset_dir):
    return truth(dataset_dir)


def selected(events, split: int, processes) -> np.ndarray:
    keep = (events["split"] == split) & np.isin(events["process"], list(processes))
    return events["event"][keep]


def event_numbers(batches) -> np.ndarray:
    return np.concatenate([b["event"].numpy() for b in batches])


def rank_batches(dataset: ShardDataset, epoch: int, workers: int, skip: int = 0) -> list[dict]:
    """What a DataLoader with ``workers`` workers yields on this rank: batch j from worker
    j % workers, in turn (the dataset's own counting is bypassed)."""
    iterators = [
        dataset.iter_worker(epoch, w, workers, skip // workers + (w < skip % workers))
        for w in range(workers)
    ]
    out = [next(iterators[j % workers]) for j in range(skip, len(dataset))]
    for iterator in iterators:
        assert next(iterator, None) is None, "a worker has more batches than the plan says"
    return out


def test_batches_hold_the_stored_events(dataset_dir, events):
    """Guards against misreading nested fixed-size lists (offsets, reshape order, row gather):
    x[:, 0, 0] and globals[:, 0] of the synthetic shards equal the event number."""
    dataset = ShardDataset(dataset_dir, split="val", batch_size=BATCH)
    batches = list(dataset)
    assert [len(b["event"]) for b in batches[:-1]] == [BATCH] * (len(batches) - 1)
    first = batches[0]
    assert first["x"].dtype == torch.float32 and first["x"].shape == (BATCH, 18, 7)
    assert first["x_mask"].dtype == torch.bool and first["x_mask"].shape == (BATCH, 18)
    assert first["globals"].shape == (BATCH, 10) and first["label"].dtype == torch.int64
    assert first["assignment"].shape == (BATCH, 4, 3) and first["partons"].shape == (BATCH, 16, 4)
    for batch in batches:
        number = batch["event"].numpy().astype(np.float32)
        np.testing.assert_array_equal(batch["x"][:, 0, 0].numpy(), number)
        np.testing.assert_array_equal(batch["globals"][:, 0].numpy(), number)
        # padded objects are all zero, real ones follow the mask
        padded = ~batch["x_mask"].numpy()
        assert not batch["x"].numpy()[padded].any()
    # unshuffled: file order of the selected events
    np.testing.assert_array_equal(event_numbers(batches), selected(events, 1, CLASS_MAP))


def test_split_filtering_is_exact(dataset_dir, events):
    """Guards against leaking events between train, val and test."""
    seen = []
    for split in (0, 1, 2):
        got = event_numbers(ShardDataset(dataset_dir, split=split, batch_size=BATCH))
        assert len(np.unique(got)) == len(got)
        np.testing.assert_array_equal(np.sort(got), np.sort(selected(events, split, CLASS_MAP)))
        seen.append(got)
    assert len(np.concatenate(seen)) == len(np.unique(np.concatenate(seen)))


def test_process_filtering(dataset_dir, events):
    """Guards against process selection by shard losing or adding events."""
    dataset = ShardDataset(dataset_dir, split="train", processes={24}, batch_size=BATCH)
    batches = list(dataset)
    assert all((b["process"] == 24).all() for b in batches)
    assert all((b["label"] == CLASS_MAP[24]).all() for b in batches)
    got = event_numbers(batches)
    np.testing.assert_array_equal(np.sort(got), np.sort(selected(events, 0, {24})))


def test_label_from_class_map(dataset_dir, events):
    """Guards against labels taken from process ids or positions instead of the class map, and
    against events of processes without a class slipping in."""
    batches = list(ShardDataset(dataset_dir, split="test", batch_size=BATCH))
    process = np.concatenate([b["process"].numpy() for b in batches])
    label = np.concatenate([b["label"].numpy() for b in batches])
    assert set(process) == set(CLASS_MAP)
    np.testing.assert_array_equal(label, [CLASS_MAP[p] for p in process])
    unlabelled = ShardDataset(dataset_dir, split="test", batch_size=BATCH, use_class_map=False)
    batches = list(unlabelled)
    assert "label" not in batches[0]
    assert 7 in np.concatenate([b["process"].numpy() for b in batches])
    assert len(event_numbers(batches)) == np.sum(events["split"] == 2)


def test_shuffle_deterministic_per_seed_and_epoch(dataset_dir, events):
    """Guards against unreproducible runs and against the same order every epoch."""

    def order(seed, epoch):
        dataset = ShardDataset(dataset_dir, batch_size=BATCH, seed=seed, shuffle_events=500)
        dataset.set_epoch(epoch)
        return event_numbers(dataset)

    first = order(1, 0)
    np.testing.assert_array_equal(first, order(1, 0))
    assert not np.array_equal(first, order(1, 1))
    assert not np.array_equal(first, order(2, 0))
    np.testing.assert_array_equal(np.sort(first), np.sort(selected(events, 0, CLASS_MAP)))
    unshuffled = event_numbers(ShardDataset(dataset_dir, batch_size=BATCH, shuffle=False))
    assert not np.array_equal(first, unshuffled)


@pytest.mark.parametrize("drop_last", [False, True])
def test_ddp_ranks_and_workers_cover_each_event_once(dataset_dir, events, drop_last):
    """Guards against duplicated or lost events across DDP ranks x loader workers, and against
    ranks with different step counts (DDP would hang waiting for the missing step)."""
    world, workers = 2, 2
    per_rank, summaries = [], []
    for rank in range(world):
        dataset = ShardDataset(
            dataset_dir,
            batch_size=BATCH,
            rank=rank,
            world_size=world,
            drop_last=drop_last,
            seed=3,
            shuffle_events=400,
        )
        dataset.set_epoch(2)
        per_rank.append(rank_batches(dataset, 2, workers))
        summaries.append(dataset.plan(workers=workers).summary())
    assert summaries[0] == summaries[1]
    counts = [len(batches) for batches in per_rank]
    assert counts[0] == counts[1] == summaries[0]["batches_per_rank"] > 0
    sizes = [[len(b["event"]) for b in batches] for batches in per_rank]
    assert sizes[0] == sizes[1]  # the same (possibly partial) last batch on every rank
    if drop_last:
        assert set(sizes[0]) == {BATCH}
    got = np.concatenate([event_numbers(batches) for batches in per_rank])
    assert len(np.unique(got)) == len(got)
    expected = selected(events, 0, CLASS_MAP)
    assert set(got) <= set(expected)
    assert len(got) == len(expected) - summaries[0]["dropped"]
    assert summaries[0]["dropped"] < (world * BATCH if drop_last else world)


def test_resume_mid_epoch_gives_the_remaining_batches(dataset_dir):
    """Guards against a resumed run repeating or skipping batches of the interrupted epoch."""
    options = {"batch_size": BATCH, "seed": 5, "shuffle_events": 500}
    full = ShardDataset(dataset_dir, **options)
    full.set_epoch(1)
    reference = [b["event"] for b in full]
    interrupted = ShardDataset(dataset_dir, **options)
    interrupted.set_epoch(1)
    iterator = iter(interrupted)
    for _ in range(11):  # crosses a shuffle window
        next(iterator)
    state = json.loads(json.dumps(interrupted.state_dict()))  # checkpoints hold plain data
    assert state["epoch"] == 1 and state["batches"] == 11
    resumed = ShardDataset(dataset_dir, **options)
    resumed.load_state_dict(state)
    resumed.set_epoch(1)  # a training loop re-entering the epoch keeps the position
    rest = [b["event"] for b in resumed]
    assert len(rest) == len(reference) - 11
    for a, b in zip(rest, reference[11:], strict=True):
        assert torch.equal(a, b)
    assert len(list(resumed)) == len(reference)  # the next pass is a whole epoch again
    with pytest.raises(DataError, match="cannot resume .*batch_size"):
        ShardDataset(dataset_dir, **{**options, "batch_size": 32}).load_state_dict(state)


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
def test_loader_workers_match_plan_and_resume(dataset_dir):
    """Guards against worker processes diverging from the plan (order, epoch not reaching
    persistent workers) and against resume counting prefetched instead of delivered batches."""
    options = {"batch_size": BATCH, "seed": 9, "shuffle_events": 500}
    expected = {}
    for epoch in (0, 1):
        dataset = ShardDataset(dataset_dir, **options)
        expected[epoch] = [b["event"] for b in rank_batches(dataset, epoch, 2)]
    loader = make_loader(dataset_dir, num_workers=2, **options)
    for epoch in (0, 1):
        loader.set_epoch(epoch)
        got = [b["event"] for b in loader]
        assert len(got) == len(loader) == len(expected[epoch])
        assert all(torch.equal(a, b) for a, b in zip(got, expected[epoch], strict=True))
    loader.set_epoch(0)
    for count, _ in enumerate(loader, start=1):
        if count == 7:
            break
    state = loader.state_dict()
    assert state["batches"] == 7 and state["workers"] == 2
    resumed = make_loader(dataset_dir, num_workers=2, **options)
    resumed.load_state_dict(state)
    rest = [b["event"] for b in resumed]
    assert all(torch.equal(a, b) for a, b in zip(rest, expected[0][7:], strict=True))
    assert len(rest) == len(expected[0]) - 7


def test_manifest_of_another_schema_version_is_refused(tmp_path):
    """Guards against reading shards written under another data contract."""
    manifest = write_dataset(tmp_path, events=600)
    content = json.loads(manifest.read_text())
    content["schema_version"] = 0
    manifest.write_text(json.dumps(content))
    with pytest.raises(ManifestError, match="schema version 0"):
        ShardDataset(tmp_path)


def test_missing_shard_is_named(tmp_path):
    """Guards against an obscure pyarrow error (or silently fewer events) for a lost shard."""
    manifest = write_dataset(tmp_path, events=600)
    lost = tmp_path / json.loads(manifest.read_text())["shards"][1]["path"]
    lost.unlink()
    with pytest.raises(DataError, match=str(lost)):
        ShardDataset(tmp_path)


def test_manifest_counts_that_disagree_with_a_shard_are_an_error(tmp_path):
    """Guards against a plan built from stale manifest counts silently shifting events."""
    manifest = write_dataset(tmp_path, events=600)
    content = json.loads(manifest.read_text())
    group = content["shards"][0]["row_groups"][0]
    group["splits"] = [group["splits"][0] - 1, group["splits"][1] + 1, group["splits"][2]]
    manifest.write_text(json.dumps(content))
    shard = tmp_path / content["shards"][0]["path"]
    with pytest.raises(DataError, match=f"{shard} row group 0"):
        list(ShardDataset(tmp_path, shuffle=False, batch_size=16))


def test_loader_without_workers_counts_in_process(dataset_dir):
    """Guards against a num_workers=0 loader double counting or losing the resume position."""
    loader = make_loader(dataset_dir, num_workers=0, batch_size=BATCH, split="val")
    reference = [b["event"] for b in ShardDataset(dataset_dir, split="val", batch_size=BATCH)]
    for count, batch in enumerate(loader, start=1):
        assert torch.equal(batch["event"], reference[count - 1])
        if count == 3:
            break
    assert loader.state_dict()["batches"] == 3
    resumed = make_loader(dataset_dir, num_workers=0, batch_size=BATCH, split="val")
    resumed.load_state_dict(loader.state_dict())
    rest = [b["event"] for b in resumed]
    assert all(torch.equal(a, b) for a, b in zip(rest, reference[3:], strict=True))


def test_reads_what_convert_and_dataset_write(samples, data_dir, base_config, tmp_path):
    """Guards against the loader drifting from the converter's manifests: shard paths relative
    to a dataset folder, per-sample process lists, a dataset mixing samples with and without
    targets (no target columns then), data events (process -1): no class by default, so they
    are dropped while labels are on."""
    import pyarrow.parquet as pq

    from evenet.io.convert import convert_sample
    from evenet.io.dataset import build_dataset

    for name, source in (
        ("ttbar_dilepton", samples.path("ttbar_dilepton", 400)),
        ("cms", data_dir / "nanoAOD_2015_CMS_Open_Data_ttbar.root"),
    ):
        convert_sample([source], tmp_path / name, name, base_config, log=lambda _: None)
    sample = list(ShardDataset(tmp_path / "ttbar_dilepton", batch_size=32, split="val"))
    assert "assignment" in sample[0] and "label" not in sample[0]  # a sample has no class map
    dataset = build_dataset("mix", [tmp_path / "ttbar_dilepton", tmp_path / "cms"], tmp_path / "ds")
    loaded = list(ShardDataset(tmp_path / "ds", batch_size=32, shuffle=False))
    assert "assignment" not in loaded[0]
    got = {
        (int(p), int(r), int(e))
        for b in loaded
        for p, r, e in zip(b["process"], b["run"], b["event"], strict=True)
    }
    expected = set()
    for shard in dataset["shards"]:
        table = pq.read_table(
            tmp_path / "ds" / shard["path"], columns=["process", "run", "event", "split"]
        )
        keep = (table.column("split").to_numpy() == 0) & (table.column("process").to_numpy() >= 0)
        train = table.filter(keep)
        columns = [train.column(c).to_pylist() for c in ("process", "run", "event")]
        expected |= set(zip(*columns, strict=True))
    assert got == expected and {p for p, _, _ in got} == {1}
    labels = np.concatenate([b["label"].numpy() for b in loaded])
    process = np.concatenate([b["process"].numpy() for b in loaded])
    np.testing.assert_array_equal(labels, [dataset["class_map"][str(p)] for p in process])


def test_max_events_is_a_fixed_proportional_subset(dataset_dir, events):
    """Guards against data-size scans whose subset changes with the epoch or seed, or that
    takes whole samples (a prefix of the first sample's events) instead of a share of each."""
    full = selected(events, 0, CLASS_MAP)
    sets = []
    for seed, epoch in ((1, 0), (1, 1), (7, 0)):
        dataset = ShardDataset(
            dataset_dir,
            batch_size=BATCH,
            seed=seed,
            columns=["event", "process"],
            max_events=1000,
        )
        batches = rank_batches(dataset, epoch, workers=1)
        numbers = event_numbers(batches)
        assert len(numbers) == len(np.unique(numbers)) == 1000
        sets.append(set(numbers.tolist()))
        processes = np.concatenate([b["process"].numpy() for b in batches])
    assert sets[0] == sets[1] == sets[2]
    assert sets[0] <= set(full.tolist())
    # each class keeps about its share of the training split
    for pid in CLASS_MAP:
        expected = 1000 * np.mean(np.isin(full, events["event"][events["process"] == pid]))
        assert abs(np.sum(processes == pid) - expected) < 0.05 * 1000, pid


def test_a_subset_larger_than_the_selection_is_an_error(dataset_dir):
    """Guards against `--train-events 100000` on a few hundred events training on all of them
    without a word (issue 12 §7): the message names what is available."""
    with pytest.raises(DataError, match=r"subset of 100000 train events; the selection holds \d+"):
        ShardDataset(dataset_dir, batch_size=BATCH, columns=["event"], max_events=100_000)
