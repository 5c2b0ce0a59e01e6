"""The analytic dilepton neutrino solver (Betchart-Demina-Harel ellipses)."""

from __future__ import annotations

import numpy as np

from evenet.physics.neutrino import M_TOP, M_W, closest_approach, ellipse, solve

M_B = 4.7


def _two_body(parent: np.ndarray, m1: float, m2: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic two-body decays of (n, 4) parents into masses m1, m2, boosted to the lab."""
    n = len(parent)
    m = np.sqrt(np.maximum(parent[:, 0] ** 2 - (parent[:, 1:] ** 2).sum(1), 0))
    p = np.sqrt((m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2)) / (2 * m)
    cos = rng.uniform(-1, 1, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    sin = np.sqrt(1 - cos**2)
    direction = np.stack([sin * np.cos(phi), sin * np.sin(phi), cos], 1)
    d1 = np.concatenate([np.sqrt(m1**2 + p**2)[:, None], p[:, None] * direction], 1)
    d2 = np.concatenate([np.sqrt(m2**2 + p**2)[:, None], -p[:, None] * direction], 1)
    beta = parent[:, 1:] / parent[:, :1]
    return _boost(d1, beta), _boost(d2, beta)


def _boost(p4: np.ndarray, beta: np.ndarray) -> np.ndarray:
    b2 = (beta**2).sum(1)
    gamma = 1 / np.sqrt(1 - b2)
    bp = (beta * p4[:, 1:]).sum(1)
    g2 = np.where(b2 > 0, (gamma - 1) / np.where(b2 > 0, b2, 1), 0)
    energy = gamma * (p4[:, 0] + bp)
    space = p4[:, 1:] + (g2 * bp + gamma * p4[:, 0])[:, None] * beta
    return np.concatenate([energy[:, None], space], 1)


def _events(n: int, seed: int):
    """tt̄ → bℓ⁺ν b̄ℓ⁻ν̄ with exact masses (no widths, no smearing); tops with random momenta."""
    rng = np.random.default_rng(seed)

    def top():
        p = rng.normal(0, 150, (n, 3))
        return np.concatenate([np.sqrt(M_TOP**2 + (p**2).sum(1))[:, None], p], 1)

    out = {}
    for name, t in (("", top()), ("bar", top())):
        b, w = _two_body(t, M_B, M_W, rng)
        lepton, nu = _two_body(w, 0.0, 0.0, rng)
        out[f"b{name}"], out[f"l{name}"], out[f"nu{name}"] = b, lepton, nu
    out["met"] = out["nu"][:, 1:3] + out["nubar"][:, 1:3]
    return out


def test_each_ellipse_holds_its_true_neutrino():
    """Guards the single-top ellipse: the true neutrino lies on nu(t) = H (cos t, sin t, 1)."""
    ev = _events(200, seed=1)
    h, z2 = ellipse(ev["b"], ev["l"])
    assert (z2 > 0).all()
    # (cos t, sin t, 1) = H^-1 nu must have unit length in its first two components.
    circle = np.linalg.solve(h, ev["nu"][:, 1:, None])[..., 0]
    np.testing.assert_allclose(circle[:, 2], 1.0, atol=1e-6)
    np.testing.assert_allclose(np.hypot(circle[:, 0], circle[:, 1]), 1.0, atol=1e-6)


def test_the_true_neutrinos_are_among_the_solutions():
    """Guards the dilepton intersection: with each event's exact masses the true (nu, nubar)
    is one of the (up to four) solutions, to 1e-6 relative."""
    ev = _events(300, seed=2)
    found = solve(ev["b"], ev["l"], ev["bbar"], ev["lbar"], ev["met"][:, 0], ev["met"][:, 1])
    assert found.valid.any(1).all()
    scale = np.linalg.norm(ev["nu"][:, 1:], axis=1)[:, None]
    distance = np.linalg.norm(found.nu - ev["nu"][:, None, 1:], axis=-1) / scale
    distance = np.where(found.valid, distance, np.inf)
    best = distance.argmin(1)
    rows = np.arange(len(best))
    print(
        f"worst relative distance {distance[rows, best].max():.2e}; "
        f"solutions per event {found.valid.sum(1).mean():.2f}"
    )
    assert (distance[rows, best] < 1e-6).all()
    nubar = found.nubar[rows, best]
    np.testing.assert_allclose(nubar, ev["nubar"][:, 1:], rtol=1e-5, atol=1e-4)


def test_closest_approach_is_a_local_minimum_and_exact_when_a_solution_exists():
    """Guards the no-solution path: with exact kinematics the closest approach reaches MET
    (distance ~0); with MET shifted away the returned point is a local minimum."""
    ev = _events(50, seed=3)
    args = (ev["b"], ev["l"], ev["bbar"], ev["lbar"])
    _, _, distance = closest_approach(*args, ev["met"][:, 0], ev["met"][:, 1])
    assert np.median(distance) < 1e-3
    far_x, far_y = ev["met"][:, 0] + 400.0, ev["met"][:, 1] - 300.0
    nu, nubar, distance = closest_approach(*args, far_x, far_y)
    h, _ = ellipse(ev["b"], ev["l"])
    hbar, _ = ellipse(ev["bbar"], ev["lbar"])
    t = np.arctan2(*np.linalg.solve(h, nu[..., None])[:, [1, 0], 0].T)
    tb = np.arctan2(*np.linalg.solve(hbar, nubar[..., None])[:, [1, 0], 0].T)
    for dt, db in ((1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)):

        def point(matrix, angle):
            return np.einsum(
                "nij,nj->ni",
                matrix,
                np.stack([np.cos(angle), np.sin(angle), np.ones_like(angle)], 1),
            )

        moved = point(h, t + dt)[:, :2] + point(hbar, tb + db)[:, :2]
        other = np.linalg.norm(moved - np.stack([far_x, far_y], 1), axis=1)
        assert (other >= distance - 1e-6).all()


def test_reconstruction_picks_a_true_pairing_and_falls_back_when_unsolvable():
    """Guards the choice among solutions and pairings: on exact events the right pairing is
    found where only it has solutions, every event ends with a finite (nu, nubar) and
    solved=False exactly where the closest approach was used."""
    from evenet.physics.neutrino import pair_and_reconstruct

    ev = _events(400, seed=4)
    met_x, met_y = ev["met"][:, 0].copy(), ev["met"][:, 1].copy()
    met_x[:40] += 5000.0  # no solution for these (beyond every ellipse): the closest approach
    b, bbar, found, first = pair_and_reconstruct(
        ev["b"], ev["bbar"], ev["l"], ev["lbar"], met_x, met_y
    )
    assert np.isfinite(found.nu).all() and np.isfinite(found.nubar).all()
    assert not found.solved[:40].any() and found.solved[40:].mean() > 0.95
    right = first[40:].mean()
    print(f"right pairing on exact events: {right:.3f}; solved {found.solved[40:].mean():.3f}")
    assert right > 0.8
    np.testing.assert_allclose(found.nu[:, 0], np.linalg.norm(found.nu[:, 1:], axis=1))
    np.testing.assert_array_equal(np.where(first[:, None], ev["b"], ev["bbar"]), b)
