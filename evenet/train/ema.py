"""Exponential moving average of model weights (evaluated and exported instead of raw ones).

The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so the average forgets
the random initialisation: with a constant 0.999, 67% of every weight exported after 400 steps
would still be the initial value (0.999^400); with the warm-up it is below 0.1%.
"""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float):
        self.decay = float(decay)
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def current_decay(self) -> float:
        """The decay the next update uses (warm-up: small while few updates were made)."""
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        shadows, values = [], []
        for name, value in model.state_dict().items():
            shadow = self.shadow[name]
            if value.dtype.is_floating_point:
                shadows.append(shadow)
                values.append(value.detach())
            else:  # integer buffers (counters) are copied
                shadow.copy_(value)
        if shadows:  # one fused update instead of a kernel launch per tensor
            torch._foreach_lerp_(shadows, values, 1.0 - self.current_decay())
        self.updates += 1

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.decay = float(state["decay"])
        self.updates = int(state.get("updates", 0))
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)
