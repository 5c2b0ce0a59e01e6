"""Residual building blocks shared by the body: LayerScale, stochastic depth, MLPs."""

from __future__ import annotations

import torch
from torch import nn


class LayerScale(nn.Module):
    """Per-channel scale of a residual branch, initialised small (CaiT)."""

    def __init__(self, dim: int, init: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class DropPath(nn.Module):
    """Stochastic depth: drops a whole residual branch per event copy while training."""

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = self.factor(x)
        return x if factor is None else x * factor

    def factor(self, x: torch.Tensor) -> torch.Tensor | None:
        """(B, 1, ..., 1): 0 for a dropped copy, 1/(1-p) for a kept one; None when inactive."""
        if not self.training or self.p == 0.0:
            return None
        keep = torch.rand(x.shape[0], *([1] * (x.dim() - 1)), device=x.device) >= self.p
        return keep.to(x.dtype) / (1.0 - self.p)


def residual(
    h: torch.Tensor,
    branch: torch.Tensor,
    scale: LayerScale,
    drop: DropPath,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """h + drop(scale(branch)) * mask in two passes over the activations instead of up to
    five: the per-copy drop factor and the (B, N, 1) slot mask are combined while small
    (each full pass is a kernel launch on a GPU, where this model is launch-bound)."""
    factor = drop.factor(branch)
    if mask is not None:
        factor = mask if factor is None else factor * mask
    scaled = branch * scale.gamma
    return h + scaled if factor is None else torch.addcmul(h, scaled, factor.to(scaled.dtype))


def mlp(dim_in: int, dim_hidden: int, dim_out: int, dropout: float = 0.0) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(dim_in, dim_hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(dim_hidden, dim_out),
    )
