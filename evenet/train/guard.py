"""Stop training at a non-finite loss or gradient before it reaches a checkpoint."""

from __future__ import annotations

import torch
import torch.distributed as dist

from evenet.model.errors import TrainingError


class FiniteGuard:
    """Remembers on the device the first step whose loss or gradient norm was not finite.

    Recording costs no host sync; `check` (one sync) runs only before logging and before
    saving, so a NaN step fails the run with the last checkpoint still the last good one.
    """

    def __init__(self, device: torch.device):
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)

    def observe(self, value: torch.Tensor, step: int) -> None:
        """Record ``step`` if ``value`` (a loss or gradient norm) is not finite."""
        bad = ~torch.isfinite(value.detach()).all()
        self.first_bad.masked_fill_(bad & (self.first_bad < 0), step)

    def check(self, world_size: int, saved_step: int, checkpoint) -> None:
        """Raise TrainingError if any rank saw a non-finite value (every rank must call)."""
        first = self.first_bad.clone()
        if world_size > 1:
            dist.all_reduce(first, op=dist.ReduceOp.MAX)
        first = int(first)
        if first < 0:
            return
        kept = f"{checkpoint} still holds step {saved_step}" if saved_step else "nothing saved"
        raise TrainingError(
            f"the training loss or gradient became NaN or infinite at step {first}; stopped "
            f"before saving ({kept}). Lower the learning rate or raise warmup_steps "
            "(training.*.lr, training.*.warmup_steps), or look for NaN in the inputs"
        )
