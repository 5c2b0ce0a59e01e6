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
