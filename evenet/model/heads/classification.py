"""Event classification head (process, or signal vs background)."""

from __future__ import annotations

import pyarrow as pa
import torch
import torch.nn.functional as F
from torch import nn

from evenet.io.columns import tensor_type
from evenet.model.encoded import Encoded
from evenet.model.heads.contract import Head, LossContext, PredictContext, PredictSettings


def _mlp(dim_in: int, hidden: int, layers: int, dim_out: int) -> nn.Sequential:
    modules: list[nn.Module] = [nn.LayerNorm(dim_in)]
    width = dim_in
    for _ in range(layers):
        modules += [nn.Linear(width, hidden), nn.GELU()]
        width = hidden
    modules.append(nn.Linear(width, dim_out))
    return nn.Sequential(*modules)


def weighted_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-event ``values`` weighted by ``weight`` when given: sum(w * v) / sum(|w|).

    Training weights keep their sign (NLO samples); normalising by sum(|w|) rather than sum(w)
    keeps a batch whose weights sum to zero or below from dividing by ~0 (same gradient
    direction, a positive factor per batch)."""
    if weight is None:
        return values.mean()
    weight = weight.to(values.dtype)
    return (values * weight).sum() / weight.abs().sum().clamp(min=1e-12)


class ClassificationHead(Head):
    """Logits over the task's classes from the event token and the mean object token.
    Predicts ``scores`` (softmax over the C classes) and ``predicted_class`` (their argmax)."""

    def __init__(self, hidden: int, num_classes: int, layers: int = 2):
        super().__init__()
        self.num_classes = num_classes
        self.net = _mlp(2 * hidden, hidden, layers, num_classes)

    def training_loss(self, enc: Encoded, ctx: LossContext) -> torch.Tensor:
        return self.loss(self(enc), ctx.batch["label"], ctx.weight)

    def prediction_fields(self, settings: PredictSettings) -> list[pa.Field]:
        return [
            pa.field("scores", tensor_type(pa.float32(), self.num_classes)),
            pa.field("predicted_class", pa.int16()),
        ]

    def predict_outputs(self, enc: Encoded, ctx: PredictContext) -> dict[str, torch.Tensor]:
        scores = self(enc)["logits"].float().softmax(-1)
        return {"scores": scores, "predicted_class": scores.argmax(-1)}

    def forward(self, enc: Encoded) -> dict[str, torch.Tensor]:
        return {"logits": self.net(enc.pooled())}

    def loss(self, out: dict, labels: torch.Tensor, weight: torch.Tensor | None = None):
        """Cross entropy; events with a negative label (no class) are ignored."""
        labels = labels.long()
        known = labels >= 0
        per_event = F.cross_entropy(out["logits"], labels.clamp(min=0), reduction="none")
        per_event = per_event * known
        if weight is not None:
            weight = weight * known
        else:
            weight = known.to(per_event.dtype)
        return weighted_mean(per_event, weight)
