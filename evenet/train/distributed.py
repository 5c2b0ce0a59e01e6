"""One entry point for 1 CPU process, 1 GPU, or N GPUs x M nodes.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; under SLURM `srun`
sets SLURM_PROCID / SLURM_STEP_NUM_TASKS / SLURM_LOCALID, and MASTER_ADDR defaults to the first
node of SLURM_JOB_NODELIST. Without either, training runs in this process alone (also inside
an allocation of several tasks when the command was not started by srun).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(*names: str) -> int | None:
    for name in names:
        if os.environ.get(name):
            return int(os.environ[name])
    return None


def _first_slurm_node(nodelist: str) -> str:
    """The first host of a SLURM node list (`scontrol` expands ranges like nid[001-004])."""
    import subprocess

    result = subprocess.run(
        ["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=False
    )
    hosts = result.stdout.split()
    if result.returncode != 0 or not hosts:
        raise RuntimeError(f"cannot expand SLURM_JOB_NODELIST={nodelist!r} with scontrol")
    return hosts[0]


def setup(device: str | None = None) -> DistInfo:
    """Join (or start) the process group the environment describes; idempotent."""
    cuda = torch.cuda.is_available() and device != "cpu"
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = _env_int("LOCAL_RANK", "SLURM_LOCALID") or 0
    else:
        world = _env_int("WORLD_SIZE", "SLURM_STEP_NUM_TASKS") or 1
        rank = _env_int("RANK", "SLURM_PROCID") or 0
        local = _env_int("LOCAL_RANK", "SLURM_LOCALID") or 0
        if world > 1:
            if not os.environ.get("MASTER_ADDR") and os.environ.get("SLURM_JOB_NODELIST"):
                os.environ["MASTER_ADDR"] = _first_slurm_node(os.environ["SLURM_JOB_NODELIST"])
            if not os.environ.get("MASTER_ADDR"):
                raise RuntimeError(
                    f"{world} processes but MASTER_ADDR is not set: launch with torchrun, or "
                    "export MASTER_ADDR (the first node's host name) and MASTER_PORT in the "
                    "SLURM batch script before srun"
                )
            os.environ.setdefault("MASTER_PORT", "29500")
            dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
    if cuda:
        # Every GPU of the node visible to every task (srun's default): the task's own is its
        # local rank; one GPU per task (--gpus-per-task=1): it is device 0.
        index = local % torch.cuda.device_count()
        torch.cuda.set_device(index)
        target = torch.device("cuda", index)
    else:
        target = torch.device("cpu")
    return DistInfo(rank, world, local, target)


def all_mean(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """The mean over ranks of a few scalars (for logging; a no-op on one process)."""
    if info.world_size == 1 or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(tensor)
    return dict(zip(keys, (tensor / info.world_size).tolist(), strict=True))


def barrier(info: DistInfo) -> None:
    if info.world_size > 1:
        dist.barrier()
