"""Files of one training run directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def last(self) -> Path:
        """The rolling training checkpoint (model + optimizer + loader state), for --resume."""
        return self.root / "checkpoints" / "last.pt"

    @property
    def model(self) -> Path:
        """The exported model (EMA weights): what fine-tuning and prediction load."""
        return self.root / "model.pt"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def validation(self) -> Path:
        """Validation-split losses (with eval_every > 0)."""
        return self.root / "validation.csv"

    @property
    def loss_plot(self) -> Path:
        return self.root / "loss.png"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"
