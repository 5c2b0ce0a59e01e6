"""Transformer blocks (fused SDPA attention) with per-token noise-level conditioning and the
optional ParT pairwise-interaction bias."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from evenet.model.blocks import DropPath, LayerScale, mlp, residual
from evenet.model.local import wrapped_dphi

PAIR_FEATURES = 4  # ln dR, ln kT, ln z, ln m^2


def pair_features(kin: torch.Tensor) -> torch.Tensor:
    """(B, N, 4) raw (pT, eta, phi, E) -> (B, N, N, 4) ParT interaction features."""
    pt, eta, phi, energy = kin.float().unbind(-1)
    pt = pt.clamp(min=1e-3)
    dr = torch.sqrt(
        (eta.unsqueeze(2) - eta.unsqueeze(1)).square()
        + wrapped_dphi(phi.unsqueeze(2), phi.unsqueeze(1)).square()
    ).clamp(min=1e-4)
    pt_min = torch.minimum(pt.unsqueeze(2), pt.unsqueeze(1))
    z = pt_min / (pt.unsqueeze(2) + pt.unsqueeze(1))
    px, py = pt * torch.cos(phi), pt * torch.sin(phi)
    pz = pt * torch.sinh(eta.clamp(-10, 10))
    e = torch.maximum(energy, torch.sqrt(px.square() + py.square() + pz.square()))

    def pair_sum(v):
        return v.unsqueeze(2) + v.unsqueeze(1)

    m2 = pair_sum(e).square() - pair_sum(px).square() - pair_sum(py).square()
    m2 = m2 - pair_sum(pz).square()
    return torch.stack(
        [torch.log(dr), torch.log(pt_min * dr), torch.log(z), torch.log(m2.clamp(min=1e-4))],
        dim=-1,
    )


class PairBias(nn.Module):
    """Pair features -> one additive attention bias per head (shared by all blocks)."""

    def __init__(self, heads: int, dim: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(PAIR_FEATURES),
            nn.Linear(PAIR_FEATURES, dim),
            nn.GELU(),
            nn.Linear(dim, heads),
        )

    def forward(self, kin: torch.Tensor) -> torch.Tensor:
        """(B, N, 4) -> (B, heads, N, N)."""
        return self.net(pair_features(kin)).permute(0, 3, 1, 2)


class TransformerBlock(nn.Module):
    """Pre-norm attention + MLP; LayerNorms modulated (shift, scale) by each token's
    noise-level condition, so clean and noised tokens share weights yet are told apart."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float,
        cond_dim: int,
        layer_scale: float,
        drop_path: float,
        dropout: float,
    ):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.ffn = mlp(dim, int(dim * mlp_ratio), dim, dropout)
        self.modulation = nn.Linear(cond_dim, 4 * dim)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.scale1, self.scale2 = LayerScale(dim, layer_scale), LayerScale(dim, layer_scale)
        self.drop = DropPath(drop_path)
        self.dropout = dropout

    def forward(self, h: torch.Tensor, cond: torch.Tensor, attn_mask: torch.Tensor):
        """h (B, T, dim); cond (B, T, cond_dim); attn_mask (B, 1|heads, T, T) additive float."""
        shift1, scale1, shift2, scale2 = self.modulation(cond).chunk(4, dim=-1)
        x = self.norm1(h) * (1 + scale1) + shift1
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        h = residual(
            h, self.proj(attended.transpose(1, 2).reshape(b, t, d)), self.scale1, self.drop
        )
        x = self.norm2(h) * (1 + scale2) + shift2
        return residual(h, self.ffn(x), self.scale2, self.drop)
