"""Analytic neutrino momenta in tt̄ → bℓ⁺ν b̄ℓ⁻ν̄: the ellipse method of Betchart, Demina and
Harel (arXiv:1305.1878), vectorised over events with numpy.

Written here from the paper: no maintained PyPI package provides it. Four-vectors are
(E, px, py, pz) in GeV, arrays (n, 4); the masses of the top and W are the generator's
(`config` `generation` settings; Pythia's defaults m_t = 173.0, m_W = 80.385 GeV), the
neutrino is massless.

One top: the neutrinos compatible with m(ℓν) = m_W and m(bℓν) = m_t lie on an ellipse
ν(t) = H (cos t, sin t, 1)ᵀ (`ellipse`); H̃ is built in a frame with the lepton along x and the
b in the x–y plane, then rotated to the lab. Two tops: ν_T + ν̄_T = MET makes the transverse
ellipse of ν meet the reflected transverse ellipse of ν̄; their intersections (up to four)
come from the degenerate member of the pencil of the two conics (a real root of the cubic
det(N̄′ − λN) = 0), split into two lines, each cut with N (`solve`). Events with no real
intersection (or no real ellipse, Z² < 0) get the closest approach instead: the (t, t̄)
minimising |ν_T(t) + ν̄_T(t̄) − MET| (`closest_approach`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

M_TOP = 173.0
M_W = 80.385


@dataclass(frozen=True)
class Solutions:
    """Up to four (ν, ν̄) per event: ``nu``, ``nubar`` (n, 4, 3) momenta, ``valid`` (n, 4)."""

    nu: np.ndarray
    nubar: np.ndarray
    valid: np.ndarray


def _three(p4: np.ndarray) -> np.ndarray:
    return np.asarray(p4, dtype=np.float64)[..., 1:]


def ellipse(b: np.ndarray, lepton: np.ndarray, m_top: float = M_TOP, m_w: float = M_W):
    """(H (n, 3, 3), Z² (n,)): ν(t) = H (cos t, sin t, 1) for one top; where Z² < 0 there is
    no real solution and H is built with Z = 0 (its closest point)."""
    b, lepton = np.asarray(b, dtype=np.float64), np.asarray(lepton, dtype=np.float64)
    pb, pl = _three(b), _three(lepton)
    pb_mag, pl_mag = np.linalg.norm(pb, axis=-1), np.linalg.norm(pl, axis=-1)
    eb, el = b[..., 0], lepton[..., 0]
    mb2 = np.maximum(eb**2 - pb_mag**2, 0.0)
    ml2 = np.maximum(el**2 - pl_mag**2, 0.0)
    c = np.clip(np.sum(pb * pl, axis=-1) / (pb_mag * pl_mag), -1.0, 1.0)
    s = np.sqrt(1.0 - c**2)
    beta_l, beta_b = pl_mag / el, pb_mag / eb
    x0 = -(m_w**2 - ml2) / (2 * el)
    x0p = -(m_top**2 - m_w**2 - mb2) / (2 * eb)
    sx = (x0 * beta_l - pl_mag * (1 - beta_l**2)) / beta_l**2
    sy = (x0p / beta_b - c * sx) / s
    w = (beta_l / beta_b - c) / s
    omega2 = w**2 + 1 - beta_l**2
    x1 = sx - (sx + w * sy) / omega2
    y1 = sy - (sx + w * sy) * w / omega2
    eps2 = m_w**2 * (1 - beta_l**2)
    z2 = x1**2 * omega2 - (sy - w * sx) ** 2 - (m_w**2 - x0**2 - eps2)
    z = np.sqrt(np.maximum(z2, 0.0))
    omega = np.sqrt(omega2)
    zero = np.zeros_like(z)
    h_tilde = np.stack(
        [
            np.stack([z / omega, zero, x1 - pl_mag], axis=-1),
            np.stack([w * z / omega, zero, y1], axis=-1),
            np.stack([zero, z, zero], axis=-1),
        ],
        axis=-2,
    )
    # Rotation to the lab: columns are the lepton direction, the b direction's component
    # orthogonal to it, and their cross product.
    ex = pl / pl_mag[..., None]
    ey = (pb / pb_mag[..., None] - c[..., None] * ex) / s[..., None]
    ez = np.cross(ex, ey)
    rotation = np.stack([ex, ey, ez], axis=-1)
    return rotation @ h_tilde, z2


def _perp(h: np.ndarray) -> np.ndarray:
    """H with its z row replaced by (0, 0, 1): maps (cos t, sin t, 1) to (px, py, 1)."""
    out = h.copy()
    out[..., 2, :] = (0.0, 0.0, 1.0)
    return out


def _adjugate(m: np.ndarray) -> np.ndarray:
    """Adjugate of (n, 3, 3) matrices (cofactor transpose) without dividing by det."""
    c0, c1, c2 = m[..., :, 0], m[..., :, 1], m[..., :, 2]
    return np.stack([np.cross(c1, c2), np.cross(c2, c0), np.cross(c0, c1)], axis=-2)


def _cross_matrix(v: np.ndarray) -> np.ndarray:
    zero = np.zeros_like(v[..., 0])
    return np.stack(
        [
            np.stack([zero, -v[..., 2], v[..., 1]], axis=-1),
            np.stack([v[..., 2], zero, -v[..., 0]], axis=-1),
            np.stack([-v[..., 1], v[..., 0], zero], axis=-1),
        ],
        axis=-2,
    )


def _lines(degenerate: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two lines (n, 3) of degenerate conics G = l mᵀ + m lᵀ and whether they are real:
    adj(G) = −p pᵀ with p = l × m (up to sign), and G + [p]× is of rank one, = 2 m lᵀ."""
    adj = _adjugate(degenerate)
    diagonal = np.einsum("...ii->...i", adj)
    i = np.argmax(np.abs(diagonal), axis=-1)
    rows = np.arange(len(i))
    real = diagonal[rows, i] <= 1e-12 * np.abs(adj).max(axis=(-2, -1))
    beta = np.sqrt(np.maximum(-diagonal[rows, i], 0.0))
    safe = np.where(beta > 0, beta, 1.0)
    p = adj[rows, :, i] / safe[:, None]
    rank_one = degenerate + _cross_matrix(p)
    flat = np.abs(rank_one).reshape(len(i), -1).argmax(-1)
    r, c = np.divmod(flat, 3)
    return rank_one[rows, r, :], rank_one[rows, :, c], real & (beta > 0)


def _cut(line: np.ndarray, conic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 2, 2) where each line meets its conic, and which of the two are real."""
    a, b, c = line[..., 0], line[..., 1], line[..., 2]
    swap = np.abs(a) > np.abs(b)  # solve for the better-conditioned coordinate
    u, v = np.where(swap, b, a), np.where(swap, a, b)  # line: u*s + v*w + c = 0, w = -(u s + c)/v
    perm = np.where(swap[:, None], [1, 0, 2], [0, 1, 2])
    q = np.take_along_axis(np.take_along_axis(conic, perm[:, :, None], 1), perm[:, None, :], 2)
    # x = (s, w, 1) with w = k s + d
    k, d = -u / v, -c / v
    qa = q[:, 0, 0] + 2 * q[:, 0, 1] * k + q[:, 1, 1] * k**2
    qb = 2 * (q[:, 0, 2] + q[:, 0, 1] * d + q[:, 1, 2] * k + q[:, 1, 1] * k * d)
    qc = q[:, 2, 2] + 2 * q[:, 1, 2] * d + q[:, 1, 1] * d**2
    disc = qb**2 - 4 * qa * qc
    real = disc >= 0
    root = np.sqrt(np.maximum(disc, 0.0))
    safe = np.where(np.abs(qa) > 0, qa, 1.0)
    s = np.stack([(-qb + root) / (2 * safe), (-qb - root) / (2 * safe)], axis=-1)
    w = k[:, None] * s + d[:, None]
    first, second = np.where(swap[:, None], w, s), np.where(swap[:, None], s, w)
    return np.stack([first, second], axis=-1), np.stack([real, real], axis=-1)


def solve(b, lepton_plus, bbar, lepton_minus, met_x, met_y, m_top=M_TOP, m_w=M_W) -> Solutions:
    """Every real (ν, ν̄) of the event (up to four, ``valid`` marks them): ν with (b, ℓ⁺), ν̄
    with (b̄, ℓ⁻), ν_T + ν̄_T = MET."""
    h, z2 = ellipse(b, lepton_plus, m_top, m_w)
    hbar, z2bar = ellipse(bbar, lepton_minus, m_top, m_w)
    n = len(h)
    unit_circle = np.diag([1.0, 1.0, -1.0])
    ok = (z2 > 0) & (z2bar > 0)
    hp, hbp = _perp(h), _perp(hbar)
    ok &= (np.abs(np.linalg.det(hp)) > 1e-12) & (np.abs(np.linalg.det(hbp)) > 1e-12)
    eye = np.eye(3)
    hp_inv = np.linalg.inv(np.where(ok[:, None, None], hp, eye))
    hbp_inv = np.linalg.inv(np.where(ok[:, None, None], hbp, eye))
    conic = np.swapaxes(hp_inv, -1, -2) @ unit_circle @ hp_inv
    conic_bar = np.swapaxes(hbp_inv, -1, -2) @ unit_circle @ hbp_inv
    gamma = np.zeros((n, 3, 3))
    gamma[:, 0, 0] = gamma[:, 1, 1] = -1.0
    gamma[:, 0, 2], gamma[:, 1, 2], gamma[:, 2, 2] = met_x, met_y, 1.0
    reflected = np.swapaxes(gamma, -1, -2) @ conic_bar @ gamma
    # A real root of det(reflected - lambda conic) = 0: an eigenvalue of conic^-1 reflected.
    lam = np.linalg.eigvals(np.linalg.solve(np.where(ok[:, None, None], conic, eye), reflected))
    pick = np.argmin(np.abs(lam.imag), axis=-1)
    lam = lam[np.arange(n), pick].real
    line1, line2, real_lines = _lines(reflected - lam[:, None, None] * conic)
    points, real = [], []
    for line in (line1, line2):
        p, r = _cut(line, conic)
        points.append(p)
        real.append(r & real_lines[:, None] & ok[:, None])
    points = np.concatenate(points, axis=1)  # (n, 4, 2) transverse nu
    valid = np.concatenate(real, axis=1)
    ones = np.ones(points.shape[:-1] + (1,))
    nu_t = np.concatenate([points, ones], axis=-1)
    met = np.stack([met_x, met_y], axis=-1)[:, None, :]
    nubar_t = np.concatenate([met - points, ones], axis=-1)
    nu = np.einsum("nij,njk,nsk->nsi", h, hp_inv, nu_t)
    nubar = np.einsum("nij,njk,nsk->nsi", hbar, hbp_inv, nubar_t)
    return Solutions(nu, nubar, valid)


def closest_approach(b, lepton_plus, bbar, lepton_minus, met_x, met_y, m_top=M_TOP, m_w=M_W):
    """(ν, ν̄) (n, 3) on the two ellipses whose transverse sum is closest to MET, and that
    distance (n,): a grid over (t, t̄) refined by Newton steps on the squared distance."""
    h, _ = ellipse(b, lepton_plus, m_top, m_w)
    hbar, _ = ellipse(bbar, lepton_minus, m_top, m_w)
    met = np.stack([met_x, met_y], axis=-1)
    parts = [
        _closest(h[k : k + _CHUNK], hbar[k : k + _CHUNK], met[k : k + _CHUNK])
        for k in range(0, len(h), _CHUNK)
    ]
    if not parts:
        empty = np.zeros((0, 3))
        return empty, empty, np.zeros(0)
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


_CHUNK = 2048  # events per grid search (48 x 48 angles each: ~75 MB per chunk)


def _closest(h, hbar, met):
    grid = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    t, tb = np.meshgrid(grid, grid, indexing="ij")

    def transverse(matrix, angle):
        return (
            matrix[:, None, :2, 0] * np.cos(angle)[..., None]
            + matrix[:, None, :2, 1] * np.sin(angle)[..., None]
            + matrix[:, None, :2, 2]
        )

    flat_t, flat_tb = t.ravel(), tb.ravel()
    residual = transverse(h, flat_t[None, :]) + transverse(hbar, flat_tb[None, :]) - met[:, None, :]
    best = np.argmin((residual**2).sum(-1), axis=-1)
    angles = np.stack([flat_t[best], flat_tb[best]], axis=-1)
    for _ in range(30):  # Newton on f(t, tb) = |r|^2 / 2, with a Levenberg damping
        ct, st = np.cos(angles[:, 0]), np.sin(angles[:, 0])
        cb, sb = np.cos(angles[:, 1]), np.sin(angles[:, 1])
        a, ab = h[:, :2], hbar[:, :2]
        r = (
            a[:, :, 0] * ct[:, None]
            + a[:, :, 1] * st[:, None]
            + a[:, :, 2]
            + ab[:, :, 0] * cb[:, None]
            + ab[:, :, 1] * sb[:, None]
            + ab[:, :, 2]
            - met
        )
        dt = -a[:, :, 0] * st[:, None] + a[:, :, 1] * ct[:, None]
        db = -ab[:, :, 0] * sb[:, None] + ab[:, :, 1] * cb[:, None]
        ddt = -a[:, :, 0] * ct[:, None] - a[:, :, 1] * st[:, None]
        ddb = -ab[:, :, 0] * cb[:, None] - ab[:, :, 1] * sb[:, None]
        grad = np.stack([(r * dt).sum(-1), (r * db).sum(-1)], axis=-1)
        h00 = (dt * dt).sum(-1) + (r * ddt).sum(-1)
        h11 = (db * db).sum(-1) + (r * ddb).sum(-1)
        h01 = (dt * db).sum(-1)
        scale = np.abs(h00) + np.abs(h11) + 1e-12
        h00, h11 = h00 + 1e-3 * scale, h11 + 1e-3 * scale
        det = h00 * h11 - h01**2
        step = np.stack(
            [h11 * grad[:, 0] - h01 * grad[:, 1], h00 * grad[:, 1] - h01 * grad[:, 0]], -1
        )
        newton_ok = (det > 0) & (h00 > 0)
        step = np.where(
            newton_ok[:, None], step / np.where(newton_ok, det, 1.0)[:, None], 1e-4 * grad
        )
        angles = angles - step
    nu = np.einsum(
        "nij,nj->ni", h, np.stack([np.cos(angles[:, 0]), np.sin(angles[:, 0]), np.ones(len(h))], -1)
    )
    nubar = np.einsum(
        "nij,nj->ni",
        hbar,
        np.stack([np.cos(angles[:, 1]), np.sin(angles[:, 1]), np.ones(len(h))], -1),
    )
    distance = np.linalg.norm(nu[:, :2] + nubar[:, :2] - met, axis=-1)
    return nu, nubar, distance


def _mass(p4: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(p4[..., 0] ** 2 - (p4[..., 1:] ** 2).sum(-1), 0.0))


def _massless(p3: np.ndarray) -> np.ndarray:
    return np.concatenate([np.linalg.norm(p3, axis=-1, keepdims=True), p3], axis=-1)


@dataclass(frozen=True)
class Reconstruction:
    """One (ν, ν̄) per event as four-vectors (n, 4), and whether it solved the constraints
    exactly (False: the closest approach)."""

    nu: np.ndarray
    nubar: np.ndarray
    solved: np.ndarray


def reconstruct(b, lepton_plus, bbar, lepton_minus, met_x, met_y, m_top=M_TOP, m_w=M_W):
    """(ν, ν̄) of a given pairing: among the real solutions the one with the smallest m_tt;
    events without one get the closest approach of ν_T + ν̄_T to MET."""
    found = solve(b, lepton_plus, bbar, lepton_minus, met_x, met_y, m_top, m_w)
    nu, nubar = _massless(found.nu), _massless(found.nubar)
    visible = np.asarray(b) + lepton_plus + bbar + lepton_minus
    m_tt = _mass(visible[:, None, :] + nu + nubar)
    best = np.argmin(np.where(found.valid, m_tt, np.inf), axis=1)
    rows = np.arange(len(best))
    solved = found.valid.any(1)
    nu, nubar = nu[rows, best], nubar[rows, best]
    if (~solved).any():
        approach = closest_approach(
            *(np.asarray(a)[~solved] for a in (b, lepton_plus, bbar, lepton_minus)),
            np.asarray(met_x)[~solved],
            np.asarray(met_y)[~solved],
            m_top,
            m_w,
        )
        nu[~solved], nubar[~solved] = _massless(approach[0]), _massless(approach[1])
    return Reconstruction(nu, nubar, solved)


M_LB_ENDPOINT = float(np.sqrt(M_TOP**2 - M_W**2))  # 152.6 GeV


def pair_and_reconstruct(jet1, jet2, lepton_plus, lepton_minus, met_x, met_y, m_top=M_TOP, m_w=M_W):
    """Which b candidate goes with ℓ⁺ (the other with ℓ⁻), and the (ν, ν̄) of that pairing:
    the pairing with real solutions; if both or neither have them, the one minimising
    max(m(ℓ⁺b), m(ℓ⁻b̄)) (whose endpoint is √(m_t² − m_W²) for the right pairing).
    Returns (b, bbar, Reconstruction, first): ``first`` True where jet1 is the b of ℓ⁺."""
    jet1, jet2 = np.asarray(jet1, dtype=np.float64), np.asarray(jet2, dtype=np.float64)
    direct = solve(jet1, lepton_plus, jet2, lepton_minus, met_x, met_y, m_top, m_w)
    swapped = solve(jet2, lepton_plus, jet1, lepton_minus, met_x, met_y, m_top, m_w)
    has_direct, has_swapped = direct.valid.any(1), swapped.valid.any(1)
    m_direct = np.maximum(_mass(jet1 + lepton_plus), _mass(jet2 + lepton_minus))
    m_swapped = np.maximum(_mass(jet2 + lepton_plus), _mass(jet1 + lepton_minus))
    first = np.where(has_direct != has_swapped, has_direct, m_direct <= m_swapped)
    b = np.where(first[:, None], jet1, jet2)
    bbar = np.where(first[:, None], jet2, jet1)
    # Only the chosen pairing is reconstructed (the closest approach is the costly part).
    chosen = reconstruct(b, lepton_plus, bbar, lepton_minus, met_x, met_y, m_top, m_w)
    return b, bbar, chosen, first
