"""Diffusion maths shared by the generative heads (pure functions, no module state).

Conventions (EveNet, arXiv:2601.17126; Kingma et al. 2021; Hoogeboom et al. "simple diffusion"):
  * time t in [0, 1]; t = 0 is clean data, t = 1 is pure noise.
  * cosine log-SNR schedule clipped to [min_logsnr, max_logsnr] = [-20, 20].
  * variance preserving: alpha^2 = sigmoid(logsnr), sigma^2 = sigmoid(-logsnr), x_t = alpha x0 +
    sigma eps.
  * v-prediction: v = alpha eps - sigma x0; x0 = alpha x_t - sigma v, eps = sigma x_t + alpha v.
  * logsnr tensors carry one value per event copy, shape (B,), or per token, shape (B, N); they
    are broadcast over the trailing dims of the data they apply to (a (B,) logsnr acting on
    (B, 2, 4) neutrinos is viewed as (B, 1, 1)).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

MIN_LOGSNR = -20.0
MAX_LOGSNR = 20.0

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def logsnr_schedule(
    t: torch.Tensor, min_logsnr: float = MIN_LOGSNR, max_logsnr: float = MAX_LOGSNR
) -> torch.Tensor:
    """Clipped cosine schedule: logsnr = -2 log tan(a t + b); t=0 -> max, t=1 -> min."""
    b = math.atan(math.exp(-0.5 * max_logsnr))
    a = math.atan(math.exp(-0.5 * min_logsnr)) - b
    return -2.0 * torch.log(torch.tan(a * t + b))


def _trailing(logsnr: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """View logsnr (B,) or (B, N) so it broadcasts over the trailing dims of `like`."""
    return logsnr.reshape(logsnr.shape + (1,) * (like.ndim - logsnr.ndim))


def alpha_sigma(logsnr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha, sigma) with alpha^2 = sigmoid(logsnr), sigma^2 = sigmoid(-logsnr)."""
    return torch.sigmoid(logsnr).sqrt(), torch.sigmoid(-logsnr).sqrt()


def q_sample(x0: torch.Tensor, logsnr: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Forward process x_t = alpha x0 + sigma noise (logsnr broadcast over trailing dims)."""
    alpha, sigma = alpha_sigma(_trailing(logsnr, x0))
    return alpha * x0 + sigma * noise


def v_target(x0: torch.Tensor, noise: torch.Tensor, logsnr: torch.Tensor) -> torch.Tensor:
    """The v-prediction target alpha eps - sigma x0."""
    alpha, sigma = alpha_sigma(_trailing(logsnr, x0))
    return alpha * noise - sigma * x0


def x0_eps_from_v(
    x_t: torch.Tensor, v: torch.Tensor, logsnr: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Invert (x_t, v) -> (x0, eps); exact because alpha^2 + sigma^2 = 1."""
    alpha, sigma = alpha_sigma(_trailing(logsnr, x_t))
    return alpha * x_t - sigma * v, sigma * x_t + alpha * v


def _normal(
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device | str | None,
    dtype: torch.dtype | None,
) -> torch.Tensor:
    # A generator only draws on its own device; draw there, then move.
    where = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=where, dtype=dtype).to(device)


# The sampling grid: uniform in log-SNR. Below -10 the marginal of any unit-scale data is
# N(0, 1) to 5e-5; above 14 the denoised mean of a feature with spread 0.01 keeps 99.6% of it.
SAMPLE_MIN_LOGSNR = -10.0
SAMPLE_MAX_LOGSNR = 14.0
DEFAULT_SAMPLE_STEPS = 25


@torch.no_grad()
def sample(
    denoise: Denoiser,
    shape: tuple[int, ...],
    steps: int = DEFAULT_SAMPLE_STEPS,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, arXiv:2211.01095): the probability-flow ODE in
    data prediction, second-order multistep in lambda = logsnr / 2, on a grid uniform in
    log-SNR from SAMPLE_MIN_LOGSNR to SAMPLE_MAX_LOGSNR; returns the last x0 prediction.

    Deterministic DDIM on the cosine-time grid under-disperses (std 0.94 / 0.27 / 0.07 for true
    1.0 / 0.3 / 0.1 at 20 steps with the exact Gaussian denoiser); this reaches the true spread
    within 2% at the default 25 steps (tests/model/test_diffusion_generation.py). No library
    offers this sampler for our v-prediction denoisers without a dependency on their model
    classes, hence the dozen lines here.

    `denoise(x_t, logsnr)` gets x_t of `shape` and logsnr of shape (shape[0],) and returns v.
    The only randomness is the initial noise, drawn from `generator`.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    dtype = dtype or torch.get_default_dtype()
    x = _normal(tuple(shape), generator, device, dtype)
    grid = torch.linspace(SAMPLE_MIN_LOGSNR, SAMPLE_MAX_LOGSNR, steps, dtype=torch.float64)
    lam = grid / 2
    alpha, sigma = alpha_sigma(grid)
    previous = None
    for i in range(steps):
        now = grid[i].to(device=x.device, dtype=dtype).expand(shape[0])
        x0, _ = x0_eps_from_v(x, denoise(x, now), now)
        if i + 1 == steps:
            return x0
        h = float(lam[i + 1] - lam[i])
        if previous is None:
            data = x0  # first order (DDIM) on the first step
        else:
            r = float(lam[i] - lam[i - 1]) / h
            data = (1 + 0.5 / r) * x0 - (0.5 / r) * previous
        ratio, scale = float(sigma[i + 1] / sigma[i]), float(alpha[i + 1] * -math.expm1(-h))
        x = ratio * x + scale * data
        previous = x0
    return x0  # steps == 1 returns above; kept for type checkers


def masked_mse(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean squared error over the entries where `mask` is True, each event's entries weighted
    by its training `weight` (B,) when given (normalised by the summed |weight| of the masked
    entries, as `weighted_mean`).

    `mask` has the shape of `pred` or lacks its last dim (then it covers whole feature rows).
    Unmasked entries never reach the result, not even as NaN; an empty mask gives a zero that
    is still connected to the graph of `pred`.
    """
    if mask.ndim == pred.ndim - 1:
        mask = mask.unsqueeze(-1)
    mask = mask.expand_as(pred)
    diff = torch.where(mask, pred - target, torch.zeros_like(pred))
    if weight is None:
        return diff.square().sum() / mask.sum().clamp(min=1)
    w = weight.to(pred.dtype).view(-1, *([1] * (pred.ndim - 1)))
    return (diff.square() * w).sum() / (mask * w.abs()).sum().clamp(min=1e-12)


def time_features(logsnr: torch.Tensor, dim: int) -> torch.Tensor:
    """Fourier features of logsnr / 20: (...,) -> (..., dim), [sin | cos] at geometric freqs."""
    if dim < 2 or dim % 2:
        raise ValueError(f"time feature width must be even and >= 2, got {dim}")
    half = dim // 2
    # Frequencies pi/2 .. 256 pi: the lowest is monotone over [-1, 1] (no aliasing of the ends),
    # the highest resolves ~0.1 in logsnr.
    exponents = torch.linspace(0.0, 9.0, half, device=logsnr.device, dtype=logsnr.dtype)
    freqs = 0.5 * math.pi * 2.0**exponents
    angles = (logsnr / MAX_LOGSNR).unsqueeze(-1) * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)
