"""tt̄ spin correlations at leading order (PHYSICS.md §3), vectorised with numpy.

Four-vectors are (E, px, py, pz) arrays of shape (..., 4) in the lab frame. The helicity
basis (k̂, r̂, n̂) is built in the tt̄ rest frame with p̂ = +z; the lepton (spin analyser)
directions are taken in the t and t̄ rest frames reached by rotation-free boosts from the tt̄
frame, and both use the same axes.
"""

from __future__ import annotations

import numpy as np

from evenet.physics.kinematics import boost_to_rest_frame, helicity_basis, unit

GLUON_GLUON = 0
QUARK_ANTIQUARK = 1


def analyser_directions(top, antitop, analyser_plus, analyser_minus):
    """Analyser directions in the helicity basis and the frame variables.

    Returns (l_plus, l_minus, beta, cos_theta): l± of shape (..., 3) holding the
    (k, r, n) components of the unit analyser direction in its top's rest frame, β the
    top speed in the tt̄ frame and cos Θ = p̂·k̂.
    """
    ttbar = np.asarray(top, dtype=np.float64) + np.asarray(antitop, dtype=np.float64)
    top_cm = boost_to_rest_frame(top, ttbar)
    antitop_cm = boost_to_rest_frame(antitop, ttbar)
    plus_cm = boost_to_rest_frame(analyser_plus, ttbar)
    minus_cm = boost_to_rest_frame(analyser_minus, ttbar)
    plus_rest = unit(boost_to_rest_frame(plus_cm, top_cm)[..., 1:])
    minus_rest = unit(boost_to_rest_frame(minus_cm, antitop_cm)[..., 1:])
    k, r, n, cos_theta = helicity_basis(top_cm[..., 1:])
    basis = np.stack([k, r, n], axis=-2)  # (..., 3 axes, 3 xyz)
    l_plus = np.einsum("...ij,...j->...i", basis, plus_rest)
    l_minus = np.einsum("...ij,...j->...i", basis, minus_rest)
    beta = np.linalg.norm(top_cm[..., 1:], axis=-1) / top_cm[..., 0]
    return l_plus, l_minus, beta, cos_theta


def correlation_matrix(initial_state, beta, cos_theta):
    """LO spin-correlation matrix C in the (k, r, n) basis, shape (..., 3, 3).

    ``initial_state`` is GLUON_GLUON or QUARK_ANTIQUARK (scalar or array). Coefficients
    from the table in PHYSICS.md §3 (C = C̃ / Ã).
    """
    beta = np.asarray(beta, dtype=np.float64)
    c = np.asarray(cos_theta, dtype=np.float64)
    b2 = beta * beta
    s2 = np.maximum(1.0 - c * c, 0.0)
    s4 = s2 * s2
    sin2theta = 2.0 * np.sqrt(s2) * c
    root = np.sqrt(np.maximum(1.0 - b2, 0.0))

    qq_a = 2.0 - b2 * s2
    qq = (2.0 - (2.0 - b2) * s2, (2.0 - b2) * s2, -b2 * s2, root * sin2theta)
    gg_a = 1.0 + 2.0 * b2 * s2 - b2 * b2 * (1.0 + s4)
    gg = (
        -(1.0 - 2.0 * b2 * s2 * c * c - b2 * b2 * (1.0 + s4)),
        -(1.0 - b2 * (2.0 - b2) * (1.0 + s4)),
        -(1.0 - 2.0 * b2 + b2 * b2 * (1.0 + s4)),
        b2 * root * s2 * sin2theta,
    )
    is_gg = np.asarray(initial_state) == GLUON_GLUON
    kk, rr, nn, rk = (np.where(is_gg, g / gg_a, q / qq_a) for g, q in zip(gg, qq, strict=True))
    zero = np.zeros_like(kk)
    return np.stack(
        [
            np.stack([kk, rk, zero], axis=-1),
            np.stack([rk, rr, zero], axis=-1),
            np.stack([zero, zero, nn], axis=-1),
        ],
        axis=-2,
    )


def acceptance_probability(initial_state, top, antitop, analyser_plus, analyser_minus):
    """w = (1 − l̂⁺ᵀ C l̂⁻)/2 ∈ [0, 1]: accepting uncorrelated decays with w correlates them."""
    l_plus, l_minus, beta, cos_theta = analyser_directions(
        top, antitop, analyser_plus, analyser_minus
    )
    c = correlation_matrix(initial_state, beta, cos_theta)
    w = 0.5 * (1.0 - np.einsum("...i,...ij,...j->...", l_plus, c, l_minus))
    return np.clip(w, 0.0, 1.0)


def cos_phi(top, antitop, lepton_plus, lepton_minus):
    """cos φ = l̂⁺·l̂⁻ (each in its top's rest frame); D = −3⟨cos φ⟩."""
    l_plus, l_minus, _, _ = analyser_directions(top, antitop, lepton_plus, lepton_minus)
    return np.sum(l_plus * l_minus, axis=-1)


AXES = ("k", "r", "n")


def observables(top, antitop, lepton_plus, lepton_minus) -> dict[str, np.ndarray]:
    """Per-event spin observables (PHYSICS.md §3), each of shape (...):

    ``cos_plus_<a>``, ``cos_minus_<a>``: cos θ±_a, the ℓ± direction in its top's rest frame
    projected on axis a of the helicity basis (k, r, n; the same axes for t and t̄, r̂ and n̂
    not flipped by the sign of cos Θ); ``cc_<a><b>`` = cos θ⁺_a cos θ⁻_b (all nine); and
    ``cos_phi`` = l̂⁺·l̂⁻.
    """
    l_plus, l_minus, _, _ = analyser_directions(top, antitop, lepton_plus, lepton_minus)
    out = {}
    for i, a in enumerate(AXES):
        out[f"cos_plus_{a}"] = l_plus[..., i]
        out[f"cos_minus_{a}"] = l_minus[..., i]
    for i, a in enumerate(AXES):
        for j, b in enumerate(AXES):
            out[f"cc_{a}{b}"] = l_plus[..., i] * l_minus[..., j]
    out["cos_phi"] = np.sum(l_plus * l_minus, axis=-1)
    return out


def coefficients(means: dict[str, float]) -> dict[str, float]:
    """The spin coefficients from the means of `observables`: C_ab = −9⟨cos θ⁺_a cos θ⁻_b⟩,
    B⁺_a = 3⟨cos θ⁺_a⟩, B⁻_a = −3⟨cos θ⁻_a⟩, D = tr C / 3, D_φ = −3⟨cos φ⟩ (identical to D
    event by event), D′ = −3D (entangled: D < −1/3 ⇔ D′ > 1)."""
    out = {}
    for a in AXES:
        out[f"B_plus_{a}"] = 3.0 * means[f"cos_plus_{a}"]
        out[f"B_minus_{a}"] = -3.0 * means[f"cos_minus_{a}"]
        for b in AXES:
            out[f"C_{a}{b}"] = -9.0 * means[f"cc_{a}{b}"]
    out["D"] = sum(out[f"C_{a}{a}"] for a in AXES) / 3.0
    out["D_phi"] = -3.0 * means["cos_phi"]
    out["D_prime"] = -3.0 * out["D"]
    return out
