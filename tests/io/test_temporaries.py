"""Stale temporaries of interrupted writers are removed by the next writer of the same output
(issue 12 §8: hidden .X.root.PID.tmp, .S.PID.tmp/ and 0-byte .last.pt.PID.tmp stayed forever)."""

from __future__ import annotations

import os
import subprocess

import torch

from evenet.io.temporaries import remove_stale, temporary
from evenet.model.checkpoint import save_checkpoint


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_only_temporaries_of_finished_processes_are_removed(tmp_path):
    output = tmp_path / "S"
    dead, alive = _dead_pid(), os.getppid()
    stale_dir = tmp_path / f".S.{dead}.tmp"
    stale_dir.mkdir()
    (stale_dir / "S_0000.parquet").write_bytes(b"half")
    stale_old = tmp_path / f".S.{dead}.old"
    stale_old.write_bytes(b"")
    running = tmp_path / f".S.{alive}.tmp"
    running.write_bytes(b"")
    other = tmp_path / f".T.{dead}.tmp"  # another output's
    other.write_bytes(b"")
    keep = tmp_path / "notes.S.1.tmp"
    keep.write_bytes(b"")
    assert sorted(p.name for p in remove_stale(output)) == sorted([stale_dir.name, stale_old.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [running.name, other.name, keep.name]
    )
    assert temporary(output).name == f".S.{os.getpid()}.tmp"


def test_saving_a_checkpoint_removes_the_empty_temporary_of_a_killed_run(tmp_path):
    last = tmp_path / "last.pt"
    stale = tmp_path / f".last.pt.{_dead_pid()}.tmp"
    stale.write_bytes(b"")
    save_checkpoint(last, {"weights": torch.zeros(1)})
    assert not stale.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert torch.load(last, weights_only=True)["weights"].shape == (1,)
