"""The typed manifest (evenet.io.manifest.Manifest): one definition of manifest.json's keys."""

from __future__ import annotations

import json

import pytest

from evenet.io.manifest import Manifest, ManifestError, load_manifest
from tests.shard_factory import write_dataset


def test_a_written_manifest_loads_back_to_the_same_fields(tmp_path):
    path = write_dataset(tmp_path / "ds", 60, shard_events=30, row_group_events=30)
    manifest = load_manifest(path)
    assert Manifest.from_dict(manifest).to_dict() == manifest
    assert manifest["classes"] and "selection" not in manifest  # optional keys absent, not null


@pytest.mark.parametrize("change", ["drop", "add"])
def test_a_manifest_with_a_missing_or_unknown_key_is_refused(tmp_path, change):
    """Guards against a manifest of another code version (or a hand edit) being half-read."""
    path = write_dataset(tmp_path / "ds", 60, shard_events=30, row_group_events=30)
    manifest = json.loads(path.read_text())
    if change == "drop":
        del manifest["processes"]
    else:
        manifest["procesess"] = {}
    path.write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="procesess" if change == "add" else "processes"):
        load_manifest(path)


def test_a_shard_changed_after_the_dataset_was_built_is_refused(tmp_path, capsys):
    """Guards against issue 12 §3: a sample reconverted after `dataset`/`stats` was trained on
    anyway (shard checksums were never checked)."""
    import os

    from evenet.cli import main
    from evenet.data import make_loader

    path = write_dataset(tmp_path / "ds", 60, shard_events=30, row_group_events=30)
    make_loader(path.parent, split="train", batch_size=4, num_workers=0)
    shard = sorted((tmp_path / "ds").glob("*.parquet"))[0]
    status = shard.stat()
    os.utime(shard, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))  # a copy or a touch
    with pytest.raises(ManifestError, match="changed after"):
        make_loader(path.parent, split="train", batch_size=4, num_workers=0)
    assert main(["dataset", "--verify", str(path.parent)]) == 0  # same content
    assert "match their sha256" in capsys.readouterr().out
    shard.write_bytes(shard.read_bytes()[:-1] + b"\0")  # other content
    assert main(["dataset", "--verify", str(path.parent)]) == 2
    assert "changed after" in capsys.readouterr().err


def test_stats_of_another_dataset_version_are_refused(tmp_path):
    """Guards against issue 12 §3: rebuilding a dataset in place kept the old stats.json and
    training used it."""
    from evenet.io.stats import write_stats
    from evenet.model.errors import CheckpointError
    from evenet.train.trainer import dataset_inputs

    path = write_dataset(tmp_path / "ds", 60, shard_events=30, row_group_events=30)
    write_stats(path.parent)
    dataset_inputs(path.parent)
    manifest = json.loads(path.read_text())
    manifest["name"] = "rebuilt"
    path.write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="another version .* run `evenet stats"):
        dataset_inputs(path.parent)
