"""How a workflow rule starts a training command: one process locally, one task per GPU under
SLURM.

The SLURM executor wraps a job's command in `srun -n1` unless the job has an `mpi` resource,
in which case the command must start its tasks itself (snakemake-executor-plugin-slurm-jobstep).
profiles/perlmutter gives pretraining `mpi: srun` and `tasks: 4` per node, so the rule's
command becomes `srun -n 4 -c 32 evenet pretrain ...`, and each task reads its rank from the
SLURM variables (evenet.train.distributed). `-c` is spelled out because srun does not inherit
the batch job's --cpus-per-task (Slurm >= 22.05): without it each task, with its loader
workers, would get one CPU.
"""

from __future__ import annotations


def training_launcher(resources) -> str:
    """The prefix of a training command for a job with these Snakemake ``resources`` ("" when
    it has no `mpi` resource: then the executor's process is the only one)."""
    launcher = str(resources.get("mpi", "") or "").strip()
    if not launcher:
        return ""
    tasks = int(resources.get("tasks", 1) or 1)
    command = f"{launcher} -n {tasks}"
    cpus = resources.get("cpus_per_task")
    if cpus:
        command += f" -c {int(cpus)}"
    return command + " "
