"""Learning-rate and masked-fraction schedules (pure functions of the optimizer step)."""

from __future__ import annotations

import math


def lr_factor(step: int, warmup_steps: int, total_steps: int, final_factor: float = 0.0) -> float:
    """Linear warm-up to 1, then cosine decay to ``final_factor`` at ``total_steps``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def masked_fraction(step: int, ramp_steps: int, start: float, end: float) -> float:
    """Fraction of real objects noised in masked point-cloud generation: a linear ramp from
    ``start`` to ``end`` over ``ramp_steps`` (stage 1 of pretraining), then ``end``."""
    if ramp_steps <= 0 or step >= ramp_steps:
        return end
    return start + (end - start) * step / ramp_steps
