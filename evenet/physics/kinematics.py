"""Kinematics on plain arrays: works on numpy arrays and on awkward arrays via ufuncs.

Conventions: energies and momenta in GeV, φ in (−π, π], η = −ln tan(θ/2).
"""

from __future__ import annotations

import numpy as np


def pt(px, py):
    return np.hypot(px, py)


def phi(px, py):
    return np.arctan2(py, px)


def eta(px, py, pz):
    """Pseudorapidity; a particle along the beam gets a large finite value, not ±inf."""
    transverse = np.maximum(np.hypot(px, py), 1e-12)
    return np.arcsinh(pz / transverse)


def delta_phi(phi1, phi2):
    """φ1 − φ2 wrapped into [−π, π)."""
    return (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi


def delta_r(eta1, phi1, eta2, phi2):
    return np.hypot(eta1 - eta2, delta_phi(phi1, phi2))


def mass(e, px, py, pz):
    """Invariant mass, clipped at zero against rounding."""
    m2 = e * e - px * px - py * py - pz * pz
    return np.sqrt(np.maximum(m2, 0.0))


def ptetaphim_to_pxpypze(pt_, eta_, phi_, m_):
    px = pt_ * np.cos(phi_)
    py = pt_ * np.sin(phi_)
    pz = pt_ * np.sinh(eta_)
    e = np.sqrt(px * px + py * py + pz * pz + m_ * m_)
    return px, py, pz, e


def boost_to_rest_frame(p4: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Boost four-vectors ``p4`` (..., 4) as (E, px, py, pz) into the rest frame of ``frame``.

    Pure (rotation-free) Lorentz boost with velocity −β of the frame; broadcasts over
    leading axes.
    """
    p4 = np.asarray(p4, dtype=np.float64)
    frame = np.asarray(frame, dtype=np.float64)
    beta = frame[..., 1:] / frame[..., :1]
    b2 = np.sum(beta * beta, axis=-1, keepdims=True)
    gamma = 1.0 / np.sqrt(np.maximum(1.0 - b2, 1e-300))
    bp = np.sum(beta * p4[..., 1:], axis=-1, keepdims=True)
    safe_b2 = np.where(b2 > 0, b2, 1.0)
    gamma2 = np.where(b2 > 0, (gamma - 1.0) / safe_b2, 0.0)
    energy = gamma * (p4[..., :1] - bp)
    space = p4[..., 1:] + gamma2 * bp * beta - gamma * beta * p4[..., :1]
    return np.concatenate([energy, space], axis=-1)


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def helicity_basis(top_in_ttbar_frame: np.ndarray, beam=(0.0, 0.0, 1.0)):
    """Helicity basis (k̂, r̂, n̂) and y = cos Θ from the top three-momentum in the tt̄ frame.

    k̂ = top direction, p̂ = beam, y = p̂·k̂, r̂ = (p̂ − y k̂)/√(1−y²), n̂ = r̂ × k̂ (PHYSICS.md §3).
    Returns arrays of shape (..., 3) for k̂, r̂, n̂ and (...) for y.
    """
    k = unit(top_in_ttbar_frame)
    p = np.broadcast_to(np.asarray(beam, dtype=np.float64), k.shape)
    y = np.sum(p * k, axis=-1)
    r = (p - y[..., None] * k) / np.sqrt(np.maximum(1.0 - y * y, 1e-300))[..., None]
    n = np.cross(r, k)
    return k, r, n, y
