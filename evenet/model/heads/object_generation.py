"""Conditional object generation: chosen object slots given chosen per-event features.

The dimuon analysis generates its two muons (4-momenta, charge, ip3d) given m_mumu and the
generated dimuon pT and Delta R. The generated features are a slot's normalised object
features (`Normalizer` layout, 8 columns) followed by its normalised x_extra (K columns), one
v-prediction diffusion over all of them at one noise level per event.

While it trains and samples, the body sees only the condition globals (every other global is
0) and the chosen slots in their noised state; every other object is padding. Nothing else of
the event can leak a generated quantity in (the muon pT through HT_lep), and sampling shows the
body exactly what training showed it, with the body inside the denoising loop
(`EveNet.sample_objects`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from evenet.model.body import CLEAN_LOGSNR
from evenet.model.diffusion import (
    DEFAULT_SAMPLE_STEPS,
    logsnr_schedule,
    masked_mse,
    q_sample,
    sample,
    v_target,
)
from evenet.model.encoded import Encoded
from evenet.model.heads.contract import Head, LossContext
from evenet.model.heads.generation import _normal, _uniform, show_only
from evenet.model.normalize import KINEMATIC_COLUMNS


@dataclass
class NoisedSlots:
    """The chosen slots' features diffused at one noise level per event.

    noised: (B, N) bool, the slots the loss is computed on (chosen slots of complete events).
    v:      (B, N, F + K) v-prediction target.
    """

    noised: torch.Tensor
    v: torch.Tensor


class ObjectGenerationHead(Head):
    """Diffusion over the object features (and x_extra) of chosen ``slots`` given the
    ``condition`` columns of the globals (+ globals_extra).

    An event trains the head only when every chosen slot holds an object (sampling always
    generates all of them); the others are shown to the body as empty events with no loss.
    """

    def __init__(
        self,
        hidden: int,
        object_dim: int,
        extra_dim: int,
        global_dim: int,
        n_slots: int,
        slots: tuple[int, ...],
        condition: tuple[int, ...],
    ):
        super().__init__()
        if not slots:
            raise ValueError("object generation needs at least one slot")
        bad = [s for s in slots if not 0 <= s < n_slots]
        if bad or len(set(slots)) != len(slots):
            raise ValueError(f"object slots {list(slots)}: each once, within 0..{n_slots - 1}")
        bad = [i for i in condition if not 0 <= i < global_dim]
        if bad:
            raise ValueError(f"global indices {bad} outside 0..{global_dim - 1}")
        self.object_dim = object_dim
        self.extra_dim = extra_dim
        self.slots = tuple(sorted(slots))
        chosen = torch.zeros(n_slots, dtype=torch.bool)
        chosen[list(self.slots)] = True
        given = torch.zeros(global_dim, dtype=torch.bool)
        given[list(condition)] = True
        self.register_buffer("chosen", chosen, persistent=False)
        self.register_buffer("given", given, persistent=False)
        self.mlp = nn.Sequential(
            nn.LayerNorm(hidden),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, object_dim + extra_dim),
        )

    @property
    def feature_dim(self) -> int:
        return self.object_dim + self.extra_dim

    # ---- what the body sees ----------------------------------------------------------------

    def features(self, inputs: dict) -> torch.Tensor:
        """(B, N, F + K): the normalised object features, then the normalised x_extra."""
        if self.extra_dim:
            return torch.cat([inputs["objects"], inputs["extra"]], dim=-1)
        return inputs["objects"]

    def conditioning(self, clean: dict, complete: torch.Tensor | None = None) -> dict:
        """The body inputs with only the condition globals and the chosen slots shown (of the
        ``complete`` (B,) events; default every event, as at sampling time)."""
        batch = clean["mask"].shape[0]
        slots = self.chosen.expand(batch, -1)
        if complete is not None:
            slots = slots & complete.unsqueeze(1)
        return show_only(clean, self.given, slots)

    def with_state(self, shown: dict, z: torch.Tensor, logsnr: torch.Tensor, normalizer) -> dict:
        """``shown`` with the shown slots' features set to ``z`` (B, N, F + K) at noise level
        ``logsnr`` (B,); their raw kinematics (kNN graph, pair bias) come from ``z``."""
        keep = shown["mask"].unsqueeze(-1)
        z = z * keep
        out = {**shown, "objects": z[..., : self.object_dim]}
        if self.extra_dim:
            out["extra"] = z[..., self.object_dim :]
        raw = normalizer.objects_inverse(out["objects"])[..., KINEMATIC_COLUMNS]
        out["kinematics"] = raw * keep
        clean = torch.full_like(shown["mask"], CLEAN_LOGSNR, dtype=z.dtype)
        out["token_logsnr"] = torch.where(shown["mask"], logsnr.unsqueeze(1), clean)
        out["global_logsnr"] = torch.full_like(logsnr, CLEAN_LOGSNR)
        return out

    # ---- training --------------------------------------------------------------------------

    def corrupt(self, inputs: dict, clean: dict, ctx: LossContext) -> NoisedSlots:
        complete = (clean["mask"] | ~self.chosen).all(1)
        shown = self.conditioning(clean, complete)
        target = self.features(clean)
        batch = target.shape[0]
        logsnr = logsnr_schedule(_uniform((batch,), target, ctx.generator))
        noise = _normal(tuple(target.shape), target, ctx.generator)
        inputs.update(
            self.with_state(shown, q_sample(target, logsnr, noise), logsnr, ctx.normalizer)
        )
        return NoisedSlots(shown["mask"], v_target(target, noise, logsnr))

    def forward(self, enc: Encoded) -> torch.Tensor:
        """Predicted v per slot (B, N, F + K) from the body's tokens."""
        return self.mlp(enc.tokens)

    def training_loss(self, enc: Encoded, ctx: LossContext) -> torch.Tensor:
        state = ctx.state
        return masked_mse(self(enc), state.v, state.noised, ctx.weight)

    # ---- sampling --------------------------------------------------------------------------

    @torch.no_grad()
    def sample(
        self,
        encode: Callable[[torch.Tensor, torch.Tensor], Encoded],
        batch: int,
        steps: int = DEFAULT_SAMPLE_STEPS,
        generator: torch.Generator | None = None,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """Sampled (`diffusion.sample`) features of the chosen slots, (B, S, F + K) normalised,
        S = len(slots) in slot order. ``encode(z, logsnr)`` gives the body's encoding of the
        chosen slots in state z (B, S, F + K) (`EveNet.sample_objects` runs the body there)."""

        def denoise(x: torch.Tensor, logsnr: torch.Tensor) -> torch.Tensor:
            return self(encode(x, logsnr))

        shape = (batch, len(self.slots), self.feature_dim)
        return sample(denoise, shape, steps, generator=generator, device=device, dtype=dtype)
