"""The EveNet body: embeddings, local kNN edge blocks, transformer blocks, event token.

One call encodes any mix of clean and noised event copies: every token carries its own
noise level (log-SNR; clean tokens sit at the schedule's maximum), embedded and used to
modulate every block, so the generation heads' noised copies are concatenated with the
clean batch and encoded in the same call.
"""

from __future__ import annotations

import torch
from torch import nn

from evenet.model.attention import PairBias, TransformerBlock
from evenet.model.blocks import mlp
from evenet.model.config import BodyConfig
from evenet.model.diffusion import time_features
from evenet.model.encoded import Encoded
from evenet.model.local import EdgeBlock, knn, neighbourhood

CLEAN_LOGSNR = 20.0  # the schedule's clip: "no noise"


class TimeEmbedding(nn.Module):
    """log-SNR -> condition vector (Fourier features + MLP)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.net = mlp(dim, dim, dim)

    def forward(self, logsnr: torch.Tensor) -> torch.Tensor:
        return self.net(time_features(logsnr, self.dim))


class EveNetBody(nn.Module):
    def __init__(
        self,
        config: BodyConfig,
        object_dim: int,
        global_dim: int,
        extra_dim: int = 0,
        global_extra_dim: int = 0,
    ):
        super().__init__()
        c = self.config = config
        h = c.hidden
        self.object_embed = mlp(object_dim, h, h)
        # Per-object extra inputs (x_extra) add to the object embedding. Zero-initialised: a
        # pretrained body fine-tuned with them starts out computing what it learned.
        self.extra_embed = nn.Linear(extra_dim, h) if extra_dim else None
        # Per-event extra inputs (globals_extra) add to the event token, zero-initialised too.
        self.global_extra_embed = nn.Linear(global_extra_dim, h) if global_extra_dim else None
        for layer in (self.extra_embed, self.global_extra_embed):
            if layer is not None:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        self.global_embed = mlp(global_dim, h, h)
        self.time_embed = TimeEmbedding(c.time_dim)
        self.time_to_token = nn.Linear(c.time_dim, h)
        rates = torch.linspace(0, c.drop_path, c.local_layers + c.transformer_layers).tolist()
        self.local_blocks = nn.ModuleList(
            EdgeBlock(h, c.layer_scale, rates[i], c.dropout) for i in range(c.local_layers)
        )
        self.pair_bias = PairBias(c.heads) if c.pair_bias else None
        self.blocks = nn.ModuleList(
            TransformerBlock(
                h,
                c.heads,
                c.mlp_ratio,
                c.time_dim,
                c.layer_scale,
                rates[c.local_layers + i],
                c.dropout,
            )
            for i in range(c.transformer_layers)
        )
        self.norm = nn.LayerNorm(h)

    def forward(
        self,
        objects: torch.Tensor,
        mask: torch.Tensor,
        globals: torch.Tensor,  # noqa: A002 - the column name
        kinematics: torch.Tensor,
        token_logsnr: torch.Tensor | None = None,
        global_logsnr: torch.Tensor | None = None,
        extra: torch.Tensor | None = None,
        globals_extra: torch.Tensor | None = None,
    ) -> Encoded:
        """objects (B, N, F) and globals (B, G) normalised; mask (B, N) real objects;
        kinematics (B, N, 4) raw (pT, eta, phi, E) for the kNN graph and pair bias;
        token_logsnr (B, N) / global_logsnr (B,) noise levels (None: clean); extra (B, N, K)
        normalised x_extra and globals_extra (B, K_g) (bodies built with them only)."""
        b, n, _ = objects.shape
        mask = mask.bool()
        if token_logsnr is None:
            token_logsnr = objects.new_full((b, n), CLEAN_LOGSNR)
        if global_logsnr is None:
            global_logsnr = objects.new_full((b,), CLEAN_LOGSNR)
        logsnr = torch.cat([global_logsnr.unsqueeze(1), token_logsnr], dim=1)
        cond = self.time_embed(logsnr)  # (B, 1 + N, time_dim)
        keep = mask.unsqueeze(-1).to(objects.dtype)

        tokens = self.object_embed(objects)
        if self.extra_embed is not None:
            if extra is None:
                raise ValueError("this body takes x_extra inputs: pass extra (B, N, K)")
            tokens = tokens + self.extra_embed(extra)
        tokens = tokens * keep
        tokens = tokens + self.time_to_token(cond[:, 1:]) * keep
        if self.local_blocks:
            index, valid = knn(kinematics[..., 1], kinematics[..., 2], mask, self.config.knn)
            graph = neighbourhood(index, valid, tokens.dtype)
            for block in self.local_blocks:
                tokens = block(tokens, graph, mask)

        event = self.global_embed(globals) + self.time_to_token(cond[:, 0])
        if self.global_extra_embed is not None:
            if globals_extra is None:
                raise ValueError("this body takes globals_extra inputs: pass globals_extra")
            event = event + self.global_extra_embed(globals_extra)
        h = torch.cat([event.unsqueeze(1), tokens], dim=1)
        attn_mask = self._attention_mask(mask, kinematics, _attention_dtype(h))
        for block in self.blocks:
            h = block(h, cond, attn_mask)
        h = self.norm(h)
        return Encoded(tokens=h[:, 1:] * keep, mask=mask, event=h[:, 0])

    def _attention_mask(self, mask, kinematics, dtype) -> torch.Tensor:
        """Additive (B, heads|1, 1+N, 1+N): -inf on padded keys, plus the pair bias."""
        b = mask.shape[0]
        keys = torch.cat([mask.new_ones(b, 1), mask], dim=1)
        blocked = torch.zeros(keys.shape, dtype=dtype, device=mask.device)
        blocked = blocked.masked_fill(~keys, float("-inf"))[:, None, None, :]
        if self.pair_bias is None:
            return blocked
        bias = self.pair_bias(kinematics).to(dtype)  # (B, heads, N, N)
        real_pair = (mask.unsqueeze(1) & mask.unsqueeze(2)).unsqueeze(1)
        bias = torch.where(real_pair, bias, torch.zeros((), dtype=dtype, device=bias.device))
        full = torch.nn.functional.pad(bias, (1, 0, 1, 0))  # no bias to/from the event token
        return full + blocked


def _attention_dtype(h: torch.Tensor) -> torch.dtype:
    """The dtype attention runs in (the autocast dtype when autocast is on): the additive mask
    is built in it because fused attention kernels need the mask's dtype to match the
    queries', and the fallback computes in float32."""
    device = h.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else h.dtype
