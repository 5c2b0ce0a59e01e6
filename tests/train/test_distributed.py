"""DDP on CPU: two gloo processes train in lockstep and only rank 0 writes."""

from __future__ import annotations

import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp

from evenet.io.manifest import load_manifest, write_json_atomic
from evenet.io.stats import write_stats
from evenet.io.topologies import load_topologies
from tests.shard_factory import write_dataset


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, dataset: str, run: str, out: str) -> None:
    import os

    import torch.distributed as dist

    from evenet.train.options import TrainOptions
    from evenet.train.trainer import build_model, train

    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(rank),
        }
    )
    torch.set_num_threads(1)
    options = TrainOptions(
        steps=4, batch_size=32, num_workers=0, warmup_steps=1, log_every=1, checkpoint_every=2
    )
    manifest = load_manifest(dataset)
    stats = __import__("json").loads((Path(dataset) / "stats.json").read_text())
    torch.manual_seed(options.seed)
    model = build_model(options, manifest, stats)
    try:
        train(dataset, run, options, model=model, log=lambda _: None)
        torch.save(model.state_dict(), Path(out) / f"rank{rank}.pt")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_gloo_ranks_stay_in_sync_and_only_rank0_writes(tmp_path):
    """Guards against ranks drifting apart (no gradient sync) or both writing checkpoints."""
    dataset = tmp_path / "ds"
    manifest_file = write_dataset(dataset, 1500)
    manifest = load_manifest(manifest_file)
    manifest["topologies"] = load_topologies().summary()
    write_json_atomic(manifest_file, manifest)
    write_stats(dataset)
    run = tmp_path / "run"
    mp.spawn(
        _worker,
        args=(2, _free_port(), str(dataset), str(run), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name, value in rank0.items():
        assert torch.equal(value, rank1[name]), name
    assert (run / "model.pt").exists() and len(list(run.glob("checkpoints/*/last.pt"))) == 1
    rows = (run / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4  # header + one row per step, written once
