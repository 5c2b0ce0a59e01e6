"""Local edge blocks: EdgeConv over the K nearest real objects in (eta, phi), phi wrapped."""

from __future__ import annotations

import math

import torch
from torch import nn

from evenet.model.blocks import DropPath, LayerScale, mlp, residual


def wrapped_dphi(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a - b mapped into [-pi, pi): phi = +pi and -pi are neighbours."""
    return torch.remainder(a - b + math.pi, 2 * math.pi) - math.pi


def knn(eta: torch.Tensor, phi: torch.Tensor, mask: torch.Tensor, k: int):
    """Indices (B, N, k) of each object's k nearest other real objects and their validity.

    Padding is never a neighbour and an object is not its own; objects with fewer than k real
    neighbours get invalid edges (masked out by the caller).
    """
    deta = eta.unsqueeze(2) - eta.unsqueeze(1)
    dphi = wrapped_dphi(phi.unsqueeze(2), phi.unsqueeze(1))
    dist = deta.square() + dphi.square()
    n = eta.shape[1]
    eye = torch.eye(n, dtype=torch.bool, device=eta.device)
    allowed = mask.unsqueeze(1) & mask.unsqueeze(2) & ~eye
    dist = dist.masked_fill(~allowed, float("inf"))
    k = min(k, n - 1)
    values, index = torch.topk(dist, k, dim=-1, largest=False)
    return index, torch.isfinite(values)


class EdgeBlock(nn.Module):
    """h_i += mean_j MLP([h_i, h_j - h_i]) over valid neighbours, then a token-wise MLP."""

    def __init__(self, dim: int, layer_scale: float, drop_path: float, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.edge = mlp(2 * dim, dim, dim, dropout)
        self.scale1 = LayerScale(dim, layer_scale)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = mlp(dim, 2 * dim, dim, dropout)
        self.scale2 = LayerScale(dim, layer_scale)
        self.drop = DropPath(drop_path)

    def forward(self, h, index, valid, mask):
        x = self.norm(h)
        b, n, k = index.shape
        neighbours = torch.gather(
            x.unsqueeze(1).expand(b, n, n, x.shape[-1]),
            2,
            index.unsqueeze(-1).expand(b, n, k, x.shape[-1]),
        )
        centre = x.unsqueeze(2).expand_as(neighbours)
        messages = self.edge(torch.cat([centre, neighbours - centre], dim=-1))
        weights = valid.unsqueeze(-1).to(messages.dtype)
        aggregated = (messages * weights).sum(2) / weights.sum(2).clamp(min=1.0)
        keep = mask.unsqueeze(-1).to(h.dtype)
        h = residual(h, aggregated, self.scale1, self.drop, keep)
        return residual(h, self.ffn(self.norm2(h)), self.scale2, self.drop, keep)
