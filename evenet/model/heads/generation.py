"""Generative heads: neutrino denoiser, masked point-cloud generation, global generation.

All three use the v-prediction diffusion of `evenet.model.diffusion` on *normalised* features
(`Normalizer` layouts): neutrinos (B, 2, 4), objects (B, N, 8), globals (B, 11).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import torch
import torch.nn.functional as F
from torch import nn

from evenet.io.columns import tensor_type
from evenet.model.diffusion import (
    DEFAULT_SAMPLE_STEPS,
    MAX_LOGSNR,
    logsnr_schedule,
    masked_mse,
    q_sample,
    sample,
    time_features,
    v_target,
)
from evenet.model.encoded import Encoded
from evenet.model.heads.contract import Head, LossContext, PredictContext, PredictSettings
from evenet.model.normalize import KINEMATIC_COLUMNS

NEUTRINO_SLOTS = 2
NEUTRINO_DIM = 4


def _uniform(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None):
    """U(0, 1) on `like`'s device/dtype, drawn on the generator's device when one is given."""
    where = generator.device if generator is not None else like.device
    out = torch.rand(shape, generator=generator, device=where, dtype=like.dtype)
    return out.to(like.device)


def _normal(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None):
    """N(0, 1) on `like`'s device/dtype, drawn on the generator's device when one is given."""
    where = generator.device if generator is not None else like.device
    out = torch.randn(shape, generator=generator, device=where, dtype=like.dtype)
    return out.to(like.device)


def _repeat(enc: Encoded, n: int) -> Encoded:
    """Each copy n times in a row (copy b -> rows b*n .. b*n + n - 1)."""
    if n == 1:
        return enc
    return Encoded(
        enc.tokens.repeat_interleave(n, 0),
        enc.mask.repeat_interleave(n, 0),
        enc.event.repeat_interleave(n, 0),
    )


# --------------------------------------------------------------------------------------------
# What the conditional generators show the body


def all_globals(inputs: dict) -> torch.Tensor:
    """(B, G + K_g): the normalised globals, then the globals_extra (when the model has them):
    the columns the conditional generators generate and condition on."""
    if "globals_extra" in inputs:
        return torch.cat([inputs["globals"], inputs["globals_extra"]], dim=-1)
    return inputs["globals"]


def with_globals(inputs: dict, g: torch.Tensor) -> dict:
    """``inputs`` with globals (and globals_extra) taken from the columns of ``g``."""
    width = inputs["globals"].shape[-1]
    out = {**inputs, "globals": g[..., :width]}
    if "globals_extra" in inputs:
        out["globals_extra"] = g[..., width:]
    return out


def show_only(clean: dict, given: torch.Tensor, slots: torch.Tensor) -> dict:
    """The body inputs with only the ``given`` (G + K_g,) global columns and the object
    ``slots`` (B, N) bool shown: every other global is 0 and every other slot padding."""
    keep = slots.unsqueeze(-1)
    shown = {
        **clean,
        "objects": clean["objects"] * keep,
        "mask": slots,
        "kinematics": clean["kinematics"] * keep,
    }
    if "extra" in clean:
        shown["extra"] = clean["extra"] * keep
    return with_globals(shown, torch.where(given, all_globals(clean), 0.0))


class _TimeEmbedding(nn.Module):
    """logsnr (...,) -> (..., dim): Fourier features followed by a small MLP."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, logsnr: torch.Tensor) -> torch.Tensor:
        return self.mlp(time_features(logsnr, self.dim))


# --------------------------------------------------------------------------------------------
# Neutrinos


class NeutrinoHead(Head):
    """Conditional denoiser of the two neutrino slots, attending to the body's encoding.

    Queries are the two noised neutrinos (plus a slot and a noise-level embedding); the memory is
    the event token followed by the object tokens, padding slots masked out. A per-slot
    existence logit, read from the event token, says whether each slot holds a neutrino at all
    (a sample of an absent slot means nothing); it is trained on events with a truth topology
    only, where ``neutrinos_mask`` is known.

    Predicts ``neutrinos_exist`` (B, 2) for every event and, with ``neutrino_samples`` S > 0,
    ``neutrinos`` (B, S, 2, 3): S samples of the two slots in raw (pT, eta, phi).
    """

    def __init__(self, hidden: int, *, dim: int = 128, layers: int = 2, heads: int = 4):
        super().__init__()
        self.nu_in = nn.Linear(NEUTRINO_DIM, dim)
        self.slot = nn.Parameter(torch.randn(NEUTRINO_SLOTS, dim) * 0.02)
        self.time = _TimeEmbedding(dim)
        self.memory_in = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, dim))
        layer = nn.TransformerDecoderLayer(
            dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(dim))
        self.out = nn.Linear(dim, NEUTRINO_DIM)
        self.exists = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, NEUTRINO_SLOTS))

    def training_loss(self, enc: Encoded, ctx: LossContext) -> torch.Tensor:
        batch = ctx.batch
        return self.loss(
            enc,
            ctx.normalizer.neutrinos(batch["neutrinos"].float()),
            batch["neutrinos_mask"].bool(),
            generator=ctx.generator,
            weight=ctx.weight,
            known=batch["topology"] >= 0,
        )

    def prediction_fields(self, settings: PredictSettings) -> list[pa.Field]:
        f32 = pa.float32()
        fields = [pa.field("neutrinos_exist", tensor_type(f32, NEUTRINO_SLOTS))]
        if settings.neutrino_samples > 0:
            shape = (settings.neutrino_samples, NEUTRINO_SLOTS, 3)
            fields.append(pa.field("neutrinos", tensor_type(f32, *shape)))
        return fields

    def predict_outputs(self, enc: Encoded, ctx: PredictContext) -> dict[str, torch.Tensor]:
        values = {"neutrinos_exist": self.existence_logits(enc).float().sigmoid()}
        settings = ctx.settings
        if settings.neutrino_samples > 0:
            normalised = self.sample(
                enc,
                steps=settings.diffusion_steps,
                n_samples=settings.neutrino_samples,
                generator=ctx.generator,
            )
            values["neutrinos"] = ctx.normalizer.neutrinos_inverse(normalised.float())
        return values

    def existence_logits(self, enc: Encoded) -> torch.Tensor:
        """(B, 2) logit that each neutrino slot exists."""
        return self.exists(enc.event)

    def forward(self, enc: Encoded, nu_t: torch.Tensor, logsnr: torch.Tensor) -> torch.Tensor:
        """Noised neutrinos (B, 2, 4) and logsnr (B,) -> predicted v (B, 2, 4)."""
        query = self.nu_in(nu_t) + self.slot + self.time(logsnr).unsqueeze(1)
        memory = self.memory_in(torch.cat([enc.event.unsqueeze(1), enc.tokens], dim=1))
        event_valid = torch.ones_like(enc.mask[:, :1])
        ignore = ~torch.cat([event_valid, enc.mask], dim=1)  # True = not attended
        return self.out(self.decoder(query, memory, memory_key_padding_mask=ignore))

    def loss(
        self,
        enc: Encoded,
        nu0: torch.Tensor,
        nu_mask: torch.Tensor,
        generator: torch.Generator | None = None,
        weight: torch.Tensor | None = None,
        known: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """v-prediction MSE over the existing neutrino slots (nu_mask True), t ~ U(0, 1), plus
        the existence BCE of both slots over the ``known`` events (B,) bool (those with a truth
        topology; default all); events weighted by ``weight`` (B,) when given."""
        # Missing neutrinos may hold anything (NaN included); they still pass through self-
        # attention, so give them a harmless value.
        nu0 = torch.where(nu_mask.unsqueeze(-1), nu0, torch.zeros_like(nu0))
        t = _uniform((nu0.shape[0],), nu0, generator)
        noise = _normal(tuple(nu0.shape), nu0, generator)
        logsnr = logsnr_schedule(t)
        pred = self(enc, q_sample(nu0, logsnr, noise), logsnr)
        denoise = masked_mse(pred, v_target(nu0, noise, logsnr), nu_mask, weight)
        return denoise + self.existence_loss(enc, nu_mask, weight, known)

    def existence_loss(self, enc, nu_mask, weight=None, known=None) -> torch.Tensor:
        """Weighted mean BCE of the existence logits over the slots of ``known`` events."""
        logits = self.existence_logits(enc)
        bce = F.binary_cross_entropy_with_logits(
            logits, nu_mask.to(logits.dtype), reduction="none"
        ).mean(-1)
        w = torch.ones_like(bce) if weight is None else weight.to(bce.dtype)
        if known is not None:
            w = w * known.to(bce.dtype)
        return (bce * w).sum() / w.abs().sum().clamp(min=1e-12)

    @torch.no_grad()
    def sample(
        self,
        enc: Encoded,
        steps: int = DEFAULT_SAMPLE_STEPS,
        n_samples: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Samples (DPM-Solver++ 2M, `diffusion.sample`) of the normalised neutrinos:
        (B, n_samples, 2, 4)."""
        batch = enc.event.shape[0]
        cond = _repeat(enc, n_samples)
        x0 = sample(
            lambda x, logsnr: self(cond, x, logsnr),
            (batch * n_samples, NEUTRINO_SLOTS, NEUTRINO_DIM),
            steps,
            generator=generator,
            device=enc.event.device,
            dtype=enc.event.dtype,
        )
        return x0.reshape(batch, n_samples, NEUTRINO_SLOTS, NEUTRINO_DIM)


# --------------------------------------------------------------------------------------------
# Masked point-cloud generation


@dataclass
class NoisedObjects:
    """A point cloud with some real objects diffused (all tensors share the batch dim B).

    z_t:          (B, N, F) input features; noised slots hold q_sample, the others are unchanged.
    token_logsnr: (B, N) noise level per slot; clean and padding slots carry MAX_LOGSNR.
    noised:       (B, N) bool, the slots the loss is computed on (always real objects).
    v:            (B, N, F) v-prediction target (meaningful on noised slots only).
    """

    z_t: torch.Tensor
    token_logsnr: torch.Tensor
    noised: torch.Tensor
    v: torch.Tensor


def _choose_noised(
    mask: torch.Tensor, fraction: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """(B, N) bool: a uniformly random subset of each event's real objects.

    Its size is fraction * n_real rounded stochastically (so it is exact on average), at least
    one when the event has any object and never more than n_real.
    """
    batch, slots = mask.shape
    n_real = mask.sum(1)
    scores = _uniform((batch, slots), fraction, generator)
    k = torch.floor(fraction * n_real + _uniform((batch,), fraction, generator)).long()
    k = torch.minimum(k.clamp(min=1), n_real)
    # Padding scores above every real one, so the real objects take ranks 0 .. n_real - 1.
    scores = torch.where(mask, scores, torch.full_like(scores, 2.0))
    rank = scores.argsort(1).argsort(1)
    return (rank < k.unsqueeze(1)) & mask


class MaskedPointHead(Head):
    """Self-supervised masked point generation: predict v of the noised objects from tokens.
    Reads the noised copy: `corrupt` diffuses a fraction of its objects."""

    def corrupt(self, inputs: dict, clean: dict, ctx: LossContext) -> NoisedObjects:
        noised = self.noise_objects(
            clean["objects"], clean["mask"], ctx.mask_fraction, generator=ctx.generator
        )
        inputs["objects"] = noised.z_t
        inputs["token_logsnr"] = noised.token_logsnr
        # The graph and pair bias of noised tokens come from their noised kinematics.
        raw = ctx.normalizer.objects_inverse(noised.z_t)[..., KINEMATIC_COLUMNS]
        inputs["kinematics"] = torch.where(noised.noised.unsqueeze(-1), raw, clean["kinematics"])
        return noised

    def training_loss(self, enc: Encoded, ctx: LossContext) -> torch.Tensor:
        return self.loss(self(enc), ctx.state, ctx.weight)

    def __init__(self, hidden: int, object_dim: int = 8):
        super().__init__()
        self.object_dim = object_dim
        self.mlp = nn.Sequential(
            nn.LayerNorm(hidden),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, object_dim),
        )

    @staticmethod
    def noise_objects(
        z: torch.Tensor,
        mask: torch.Tensor,
        fraction: float | torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> NoisedObjects:
        """Diffuse a random `fraction` of each event's real objects at one per-event t ~ U(0, 1).

        `fraction` is a float or a tensor broadcastable to (B,).
        """
        batch = z.shape[0]
        fraction = torch.as_tensor(fraction, dtype=z.dtype, device=z.device).expand(batch)
        noised = _choose_noised(mask, fraction, generator)
        logsnr = logsnr_schedule(_uniform((batch,), z, generator))
        noise = _normal(tuple(z.shape), z, generator)
        z_t = torch.where(noised.unsqueeze(-1), q_sample(z, logsnr, noise), z)
        clean = torch.full_like(noised, MAX_LOGSNR, dtype=z.dtype)
        token_logsnr = torch.where(noised, logsnr.unsqueeze(1), clean)
        return NoisedObjects(z_t, token_logsnr, noised, v_target(z, noise, logsnr))

    def forward(self, enc: Encoded) -> torch.Tensor:
        """Predicted v per slot (B, N, F) from the body's tokens."""
        return self.mlp(enc.tokens)

    def loss(
        self, pred_v: torch.Tensor, noised: NoisedObjects, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """MSE on the noised slots only (events weighted by ``weight`` when given)."""
        return masked_mse(pred_v, noised.v, noised.noised, weight)


# --------------------------------------------------------------------------------------------
# Global generation


@dataclass
class NoisedGlobals:
    """Normalised globals with the generated columns diffused.

    g_t:       (B, G) inputs; conditioning columns are left clean.
    logsnr:    (B,) noise level of the generated columns.
    generated: (B, G) bool, True on the generated (noised) columns.
    v:         (B, G) v-prediction target (meaningful on generated columns only).
    """

    g_t: torch.Tensor
    logsnr: torch.Tensor
    generated: torch.Tensor
    v: torch.Tensor


class GlobalGenerationHead(Head):
    """Diffusion over chosen normalised globals (`generate`, default every global that is not a
    condition), given the `condition` globals, which stay clean and are given at sampling time
    (e.g. M_leptons, to generate the dimuon pT at a fixed m_mumu).

    While it trains and samples, the body sees only the condition columns and the noised
    generated columns: the objects and every other global are hidden (`conditioning`), so a
    generated quantity cannot leak in through another input (the dimuon pT through HT_lep or
    the muons themselves). The head gets its own copy of the inputs for this (`own_copy`).
    """

    def __init__(
        self,
        hidden: int,
        global_dim: int = 11,
        condition: tuple[int, ...] = (),
        *,
        generate: tuple[int, ...] = (),
        dim: int = 128,
    ):
        super().__init__()
        bad = [i for i in (*condition, *generate) if not 0 <= i < global_dim]
        if bad:
            raise ValueError(f"global indices {bad} outside 0..{global_dim - 1}")
        if set(condition) & set(generate):
            raise ValueError(
                f"globals {sorted(set(condition) & set(generate))} are both "
                "generated and conditions"
            )
        given = torch.zeros(global_dim, dtype=torch.bool)
        given[list(condition)] = True
        if generate:
            generated = torch.zeros(global_dim, dtype=torch.bool)
            generated[list(generate)] = True
        else:
            generated = ~given
        if not generated.any():
            raise ValueError("every global is a condition: nothing left to generate")
        self.global_dim = global_dim
        self.condition = tuple(condition)
        self.time_dim = dim
        self.register_buffer("generated", generated, persistent=False)
        self.register_buffer("given", given, persistent=False)
        self.event_in = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(
            nn.Linear(hidden + global_dim + dim, dim),
            nn.GELU(),
            nn.Linear(dim, dim),
            nn.GELU(),
            nn.Linear(dim, global_dim),
        )

    all_globals = staticmethod(all_globals)
    with_globals = staticmethod(with_globals)

    def conditioning(self, clean: dict) -> dict:
        """The body inputs with only the condition globals shown: objects hidden (no real
        object), every other global 0 (the generated ones are then set to their noised state)."""
        return show_only(clean, self.given, torch.zeros_like(clean["mask"]))

    def corrupt(self, inputs: dict, clean: dict, ctx: LossContext) -> NoisedGlobals:
        shown = self.conditioning(clean)
        noised = self.noise_globals(
            self.all_globals(shown), self.all_globals(clean), generator=ctx.generator
        )
        inputs.update(self.with_globals(shown, noised.g_t))
        inputs["global_logsnr"] = noised.logsnr
        return noised

    def training_loss(self, enc: Encoded, ctx: LossContext) -> torch.Tensor:
        noised = ctx.state
        return self.loss(self(enc, noised.g_t, noised.logsnr), noised, ctx.weight)

    def noise_globals(
        self,
        shown: torch.Tensor,
        target: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> NoisedGlobals:
        """Diffuse the generated columns of ``target`` (B, G; default ``shown``) at one
        per-event t ~ U(0, 1); the other columns keep their ``shown`` values."""
        target = shown if target is None else target
        batch = target.shape[0]
        logsnr = logsnr_schedule(_uniform((batch,), target, generator))
        noise = _normal(tuple(target.shape), target, generator)
        generated = self.generated.expand(batch, -1)
        g_t = torch.where(generated, q_sample(target, logsnr, noise), shown)
        return NoisedGlobals(g_t, logsnr, generated, v_target(target, noise, logsnr))

    def forward(self, enc: Encoded, g_t: torch.Tensor, logsnr: torch.Tensor) -> torch.Tensor:
        """Predicted v (B, G) from [event token, g_t, time features]."""
        features = [self.event_in(enc.event), g_t, time_features(logsnr, self.time_dim)]
        return self.mlp(torch.cat(features, dim=-1))

    def loss(
        self, pred: torch.Tensor, noised: NoisedGlobals, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """MSE on the generated columns only (events weighted by ``weight`` when given)."""
        return masked_mse(pred, noised.v, noised.generated, weight)

    @torch.no_grad()
    def sample(
        self,
        encode: Callable[[torch.Tensor, torch.Tensor], Encoded],
        g_condition: torch.Tensor,
        steps: int = DEFAULT_SAMPLE_STEPS,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Sampled (`diffusion.sample`) generated columns, (B, G) normalised; condition columns
        are copied.

        `g_condition` (B, G) needs only its condition columns filled. `encode(g_t, logsnr)`
        gives the event encoding of the current state at every denoising step, as training
        encodes the noised globals (`EveNet.sample_globals` runs the body there); an encoding
        held fixed would condition on inputs training never showed the head.
        """
        generated = self.generated.expand_as(g_condition)

        def denoise(x: torch.Tensor, logsnr: torch.Tensor) -> torch.Tensor:
            # The sampler's state of condition columns is ignored: the model always sees them clean.
            g_t = torch.where(generated, x, g_condition)
            return self(encode(g_t, logsnr), g_t, logsnr)

        x0 = sample(
            denoise,
            tuple(g_condition.shape),
            steps,
            generator=generator,
            device=g_condition.device,
            dtype=g_condition.dtype,
        )
        return torch.where(generated, x0, g_condition)
