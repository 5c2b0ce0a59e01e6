"""Local edge blocks: EdgeConv over the K nearest real objects in (eta, phi), phi wrapped."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from evenet.model.blocks import DropPath, LayerScale, mlp, residual


def wrapped_dphi(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a - b mapped into [-pi, pi): phi = +pi and -pi are neighbours."""
    return torch.remainder(a - b + math.pi, 2 * math.pi) - math.pi


class Neighbourhood(NamedTuple):
    """The kNN graph in the form every EdgeBlock uses, built once per body call."""

    rows: torch.Tensor  # (B * N * k,) flat row of each edge's neighbour in (B * N, dim)
    weights: torch.Tensor  # (B, N, 1, k) 1/(valid neighbours) on valid edges, else 0
    present: torch.Tensor  # (B, N, 1) 1 where an object has a valid neighbour, else 0


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


def neighbourhood(index: torch.Tensor, valid: torch.Tensor, dtype: torch.dtype) -> Neighbourhood:
    b, n, _ = index.shape
    rows = (index + torch.arange(b, device=index.device).view(b, 1, 1) * n).view(-1)
    counts = valid.sum(-1, keepdim=True)
    weights = valid.to(dtype) / counts.clamp(min=1).to(dtype)
    return Neighbourhood(rows, weights.unsqueeze(-2), (counts > 0).to(dtype))


class EdgeBlock(nn.Module):
    """h_i += mean_j MLP([h_i, h_j - h_i]) over valid neighbours, then a token-wise MLP.

    The edge MLP is evaluated without building per-edge inputs: its first layer is linear, so
    W [x_i, x_j - x_i] + b = (W_c - W_d) x_i + b + W_d x_j is two per-object projections
    added per edge, and its last layer is linear too, so it is applied to the neighbour mean
    rather than to every edge. Same parameters and outputs as the per-edge form (tested),
    with roughly half the local-block FLOPs and no (B, N, k, 2*dim) or (B, N, N, dim)
    tensors in the forward or backward pass.
    """

    def __init__(self, dim: int, layer_scale: float, drop_path: float, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.edge = mlp(2 * dim, dim, dim, dropout)
        self.scale1 = LayerScale(dim, layer_scale)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = mlp(dim, 2 * dim, dim, dropout)
        self.scale2 = LayerScale(dim, layer_scale)
        self.drop = DropPath(drop_path)

    def forward(self, h: torch.Tensor, graph: Neighbourhood, mask: torch.Tensor):
        x = self.norm(h)
        b, n, _, k = graph.weights.shape
        d = x.shape[-1]
        first, act, dropout, last = self.edge
        w_diff = first.weight[:, d:]
        centre = F.linear(x, first.weight[:, :d] - w_diff, first.bias)
        neighbour = F.linear(x, w_diff).reshape(b * n, d).index_select(0, graph.rows)
        hidden = dropout(act(centre.unsqueeze(2) + neighbour.view(b, n, k, d)))  # (B, N, k, d)
        # Mean over valid neighbours (zero without any), then the last linear layer.
        pooled = torch.matmul(graph.weights.to(hidden.dtype), hidden).squeeze(-2)  # (B, N, d)
        aggregated = torch.addcmul(F.linear(pooled, last.weight), graph.present, last.bias)
        keep = mask.unsqueeze(-1).to(h.dtype)
        h = residual(h, aggregated, self.scale1, self.drop, keep)
        return residual(h, self.ffn(self.norm2(h)), self.scale2, self.drop, keep)
