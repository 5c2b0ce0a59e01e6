"""Kinematics and the LO spin-correlation formulas (PHYSICS.md §3)."""

import numpy as np
import pytest

from evenet.physics import kinematics as kin
from evenet.physics.spin import (
    GLUON_GLUON,
    QUARK_ANTIQUARK,
    acceptance_probability,
    correlation_matrix,
)


def test_delta_phi_wraps_around_pi():
    """Guards against φ = ±π being treated as the farthest pair (a bug of the public code)."""
    assert kin.delta_phi(np.pi - 0.1, -np.pi + 0.1) == pytest.approx(-0.2)
    assert kin.delta_r(0.0, 3.1, 0.0, -3.1) == pytest.approx(2 * np.pi - 6.2)


def test_boost_to_rest_frame_gives_zero_momentum_and_mass():
    rng = np.random.default_rng(1)
    p = rng.normal(0, 50, size=(100, 3))
    m = rng.uniform(1, 200, size=100)
    p4 = np.concatenate([np.sqrt((p**2).sum(1) + m**2)[:, None], p], axis=1)
    rest = kin.boost_to_rest_frame(p4, p4)
    np.testing.assert_allclose(rest[:, 1:], 0.0, atol=1e-8)
    np.testing.assert_allclose(rest[:, 0], m, rtol=1e-10)


def test_gg_threshold_is_a_spin_singlet():
    c = correlation_matrix(GLUON_GLUON, beta=1e-6, cos_theta=0.3)
    np.testing.assert_allclose(c, -np.eye(3), atol=1e-9)


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("cos_theta", [-0.8, 0.0, 0.6])
def test_qqbar_gives_d_one_third_everywhere(beta, cos_theta):
    c = correlation_matrix(QUARK_ANTIQUARK, beta, cos_theta)
    assert np.trace(c) / 3 == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "m_tt, expected", [(346, -0.98), (360, -0.79), (380, -0.61), (400, -0.49), (450, -0.32)]
)
def test_gg_d_at_fixed_mass_matches_published_lo_values(m_tt, expected):
    """LO gg D at fixed m_tt (PHYSICS.md §3), averaged over the gg angular distribution.

    dσ/dcosΘ ∝ Ã · (7 + 9β²c²)/(1 − β²c²)²; the second factor cancels in C = C̃/Ã but not
    in the angular average. Guards against a mistyped coefficient in the table.
    """
    m_top = 172.5
    beta = np.sqrt(1 - 4 * m_top**2 / m_tt**2)
    c = np.linspace(-1, 1, 20001)
    s2 = 1 - c**2
    weight = (
        (1 + 2 * beta**2 * s2 - beta**4 * (1 + s2**2))
        * (7 + 9 * beta**2 * c**2)
        / (1 - beta**2 * c**2) ** 2
    )
    d = np.trace(correlation_matrix(GLUON_GLUON, beta, c), axis1=-2, axis2=-1) / 3
    assert np.average(d, weights=weight) == pytest.approx(expected, abs=0.01)


def test_acceptance_probability_is_a_probability_and_prefers_parallel_leptons_at_threshold():
    """In a singlet (gg, threshold) parallel analysers are favoured: w = (1 + cos φ)/2."""
    top = np.array([175.0, 1.0, 0.0, 0.0])
    antitop = np.array([175.0, -1.0, 0.0, 0.0])
    up = np.array([1.0, 0.0, 1.0, 0.0])
    down = np.array([1.0, 0.0, -1.0, 0.0])
    parallel = acceptance_probability(GLUON_GLUON, top, antitop, up, up)
    opposite = acceptance_probability(GLUON_GLUON, top, antitop, up, down)
    assert parallel == pytest.approx(1.0, abs=1e-3)
    assert opposite == pytest.approx(0.0, abs=1e-3)


def test_scalar_hook_acceptance_agrees_with_the_vectorised_definition():
    """The hook's plain-float path must compute the same w as evenet.physics.spin."""
    from evenet.generation.spin_hook import acceptance_scalar

    rng = np.random.default_rng(5)

    def four(m, scale):
        p = rng.normal(0, scale, 3)
        return np.array([np.sqrt(p @ p + m * m), *p])

    for initial in (GLUON_GLUON, QUARK_ANTIQUARK):
        for _ in range(50):
            t, tb = four(172.5, 150), four(172.5, 150)
            lp, lm = four(0.0, 60), four(0.0, 60)
            vector = acceptance_probability(initial, t, tb, lp, lm)
            scalar = acceptance_scalar(initial, tuple(t), tuple(tb), tuple(lp), tuple(lm))
            assert scalar == pytest.approx(float(vector), abs=1e-9)


def _random_tops_and_leptons(n: int, seed: int):
    rng = np.random.default_rng(seed)

    def four(mass, scale):
        p = rng.normal(0, scale, (n, 3))
        return np.concatenate([np.sqrt(mass**2 + (p**2).sum(1, keepdims=True)), p], axis=1)

    return four(173.0, 120.0), four(173.0, 120.0), four(0.0, 40.0), four(0.0, 40.0)


def test_trace_of_c_equals_d_phi_event_by_event():
    """Guards the axes and signs of the estimators: -3 sum_a cos+_a cos-_a equals -3 cos phi
    for every event (the basis is orthonormal), so tr C / 3 = D_phi to 1e-12."""
    from evenet.physics.spin import observables

    obs = observables(*_random_tops_and_leptons(1000, seed=3))
    trace = obs["cc_kk"] + obs["cc_rr"] + obs["cc_nn"]
    np.testing.assert_allclose(-3 * trace, -3 * obs["cos_phi"], atol=1e-12, rtol=0)
    assert np.abs(obs["cc_kr"] - obs["cos_plus_k"] * obs["cos_minus_r"]).max() == 0
    assert 0.2 < np.std(obs["cos_phi"]) < 0.8  # random directions, not a constant


def test_coefficients_recover_an_lo_correlation_matrix():
    """Guards C_ab = -9<cos+_a cos-_b> and the signs of B: leptons drawn with the LO weight
    (1 - l+ C l-)/2 of a fixed C give back C (and B = 0, D = tr C / 3 = D_phi)."""
    from evenet.physics.spin import coefficients

    rng = np.random.default_rng(7)
    true_c = np.array([[0.3, 0.1, 0.0], [0.1, 0.2, 0.0], [0.0, 0.0, 0.4]])
    l_plus = rng.normal(size=(400_000, 3))
    l_minus = rng.normal(size=(400_000, 3))
    l_plus /= np.linalg.norm(l_plus, axis=1, keepdims=True)
    l_minus /= np.linalg.norm(l_minus, axis=1, keepdims=True)
    w = 0.5 * (1 - np.einsum("ei,ij,ej->e", l_plus, true_c, l_minus))
    keep = rng.uniform(size=len(w)) < w
    lp, lm = l_plus[keep], l_minus[keep]
    means = {}
    for i, a in enumerate("krn"):
        means[f"cos_plus_{a}"] = lp[:, i].mean()
        means[f"cos_minus_{a}"] = lm[:, i].mean()
        for j, b in enumerate("krn"):
            means[f"cc_{a}{b}"] = (lp[:, i] * lm[:, j]).mean()
    means["cos_phi"] = (lp * lm).sum(1).mean()
    found = coefficients(means)
    for i, a in enumerate("krn"):
        assert abs(found[f"B_plus_{a}"]) < 0.02 and abs(found[f"B_minus_{a}"]) < 0.02
        for j, b in enumerate("krn"):
            assert abs(found[f"C_{a}{b}"] - true_c[i, j]) < 0.03, (a, b)
    assert abs(found["D"] - found["D_phi"]) < 1e-12
    assert abs(found["D_prime"] + 3 * found["D"]) < 1e-12
