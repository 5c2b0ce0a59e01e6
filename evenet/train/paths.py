"""Files of one training run directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunPaths:
    root: Path
    fingerprint: str = ""  # of the options and data the run trains with (checkpointing.py)

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last(self) -> Path:
        """The rolling training checkpoint (model + optimizer + loader state) of this run's
        options and data, for resuming: other options or data never see it."""
        return self.checkpoints / self.fingerprint / "last.pt"

    def outputs(self) -> list[Path]:
        """What a run writes at its top level (replaced when a run starts anew)."""
        return [self.model, self.metrics, self.validation, self.loss_plot, self.summary]

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
