"""Checkpoints: rebuilt from themselves alone, bit-exact, and refused when they do not fit."""

from __future__ import annotations

import json

import pytest
import torch

from evenet import SCHEMA_VERSION
from evenet.io.topologies import load_topologies
from evenet.model.checkpoint import (
    check_compatible,
    checkpoint_payload,
    from_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from evenet.model.config import preset
from evenet.model.errors import CheckpointError
from evenet.model.model import EveNet
from evenet.model.normalize import neutral_stats
from evenet.model.synthetic import synthetic_batch

TOPOLOGIES = load_topologies().summary()


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(1)
    stats = neutral_stats()
    stats["x"]["mean"][0] = 4.5  # non-trivial statistics must travel with the weights
    model = EveNet(preset("tiny", num_classes=3), stats, TOPOLOGIES)
    payload = checkpoint_payload(
        model, stats=stats, class_map={10: 0, 11: 1, 12: 2}, conversion={"jets": {"min_pt_gev": 20}}
    )
    path = save_checkpoint(tmp_path / "model.pt", payload)
    return model, path


def _manifest(schema_version=SCHEMA_VERSION, x=None):
    from evenet.model.checkpoint import features

    names = features()
    return {
        "schema_version": schema_version,
        "columns": [
            {"name": "x", "features": x or names["x"]},
            {"name": "globals", "features": names["globals"]},
        ],
    }


def test_round_trip_is_bit_exact(saved):
    """Guards against a checkpoint that needs the original code objects or config files."""
    model, path = saved
    rebuilt, payload = from_checkpoint(path, manifest=_manifest())
    for (name, a), (_, b) in zip(
        model.state_dict().items(), rebuilt.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    batch = synthetic_batch(4, TOPOLOGIES, 3, seed=5)
    model.eval(), rebuilt.eval()
    with torch.no_grad():
        assert torch.equal(model.encode(batch).event, rebuilt.encode(batch).event)
    assert payload["class_map"] == {"10": 0, "11": 1, "12": 2}
    assert payload["stats"]["x"]["mean"][0] == 4.5
    assert payload["conversion"] == {"jets": {"min_pt_gev": 20}}
    assert not list(path.parent.glob(".*tmp"))  # the temporary file was renamed away


def test_checkpoint_is_plain_values(saved):
    """Guards against pickled objects that weights_only=True loading would refuse."""
    _, path = saved
    payload = torch.load(path, weights_only=True)
    json.dumps({k: v for k, v in payload.items() if k != "state_dict"})


def test_mismatched_dataset_is_rejected(saved):
    """Guards against a model silently reading data of another schema or feature order."""
    _, path = saved
    with pytest.raises(CheckpointError, match="schema version"):
        from_checkpoint(path, manifest=_manifest(schema_version=SCHEMA_VERSION + 1))
    with pytest.raises(CheckpointError, match="expects x features"):
        from_checkpoint(path, manifest=_manifest(x=["pT", "E", "eta", "phi", "b", "l", "q"]))


def test_corrupt_truncated_or_foreign_files_are_rejected(saved, tmp_path):
    """Guards against tracebacks (or code execution) from a bad checkpoint file."""
    _, path = saved
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not an EveNet checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_empty_and_pickled_files_give_a_reason_and_no_unsafe_advice(tmp_path):
    """Guards against issue 12 §7: an empty checkpoint said "cannot be read: " with no reason,
    and torch's advice to load with weights_only=False reached the user."""
    import argparse

    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        load_checkpoint(empty)
    pickled = tmp_path / "pickled.pt"
    torch.save({"object": argparse.Namespace(a=1)}, pickled)
    with pytest.raises(CheckpointError, match="objects other than tensors") as info:
        load_checkpoint(pickled)
    assert "weights_only" not in str(info.value)
    short = tmp_path / "short.pt"
    short.write_bytes(b"x")
    with pytest.raises(CheckpointError, match=r"cannot be read: \S"):
        load_checkpoint(short)
    text = tmp_path / "text.pt"  # said only "cannot be read: 174812789" (a pickle KeyError)
    text.write_text("junk\n")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint, or a truncated one"):
        load_checkpoint(text)


def test_weights_that_do_not_fit_the_stored_config_are_rejected(saved, tmp_path):
    """Guards against loading weights into a model of another shape with a cryptic error."""
    _, path = saved
    payload = load_checkpoint(path)
    payload["model_config"]["body"]["hidden"] = 32
    payload["model_config"]["body"]["heads"] = 4
    bad = save_checkpoint(tmp_path / "bad.pt", payload)
    with pytest.raises(CheckpointError, match="do not fit"):
        from_checkpoint(bad)
    payload["model_config"]["body"]["hiden"] = 32
    with pytest.raises(CheckpointError, match="unknown body key"):
        from_checkpoint(save_checkpoint(tmp_path / "bad2.pt", payload))


def test_compatibility_check_accepts_the_converter_manifest_layout():
    """Guards against the checker and the converter disagreeing on the manifest layout."""
    from evenet.io.schema import Shapes, columns_description
    from evenet.model.checkpoint import features

    manifest = {
        "schema_version": SCHEMA_VERSION,
        "columns": columns_description(Shapes(4, 3, 16), True),
    }
    check_compatible({"schema_version": SCHEMA_VERSION, "features": features()}, manifest)
