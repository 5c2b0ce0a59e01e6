"""Response-matrix unfolding: exact where it must be exact, honest errors where it is not."""

from __future__ import annotations

import numpy as np
import pytest

from evenet.stats.unfolding import (
    Response,
    UnfoldingError,
    build_response,
    histogram,
    mean_of_x,
    unfold,
)

N_BINS = 8


def _events(n: int, seed: int):
    """Truth x in [-1, 1] with density ~ (1 + 0.4 x), Gaussian smearing (0.15), an
    x-dependent selection, reco bins -1 outside [-1, 1] or unselected."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, 3 * n)
    x = x[rng.uniform(0, 1.4, len(x)) < 1 + 0.4 * x][:n]
    reco = x + rng.normal(0, 0.15, n)
    selected = rng.uniform(size=n) < 0.6 + 0.2 * x
    edges = np.linspace(-1, 1, N_BINS + 1)
    truth_bin = np.clip(np.digitize(x, edges) - 1, 0, N_BINS - 1)
    reco_bin = np.digitize(reco, edges) - 1
    reco_bin[~selected | (reco < -1) | (reco >= 1)] = -1
    return x, truth_bin, reco_bin


def test_identity_response_returns_the_input():
    """Guards a transposed or mis-normalised inversion."""
    response = Response(np.eye(3), np.ones(3), np.zeros(3), np.ones(3))
    counts, cov = unfold(response, np.array([5.0, 7.0, 11.0]))
    np.testing.assert_allclose(counts, [5, 7, 11], rtol=1e-12)
    np.testing.assert_allclose(cov, np.diag([5.0, 7.0, 11.0]), rtol=1e-12)


def test_a_known_2x2_smearing_and_efficiency_are_inverted_exactly():
    """Guards M vs M^T and the efficiency correction: r = M (eps t) must give back t."""
    truth = np.array([100.0, 50.0])
    matrix = np.array([[0.8, 0.3], [0.2, 0.7]])  # columns: P(reco | truth)
    efficiency = np.array([0.5, 0.8])
    response = Response(matrix, efficiency, np.zeros(2), truth)
    counts, _ = unfold(response, matrix @ (efficiency * truth))
    np.testing.assert_allclose(counts, truth, rtol=1e-12)


def test_exact_closure_on_the_response_events():
    """Guards the response construction: the events that built the response, unfolded with
    it, return their own truth counts and their own mean of x (to 1e-9)."""
    x, truth_bin, reco_bin = _events(20_000, seed=1)
    response = build_response(truth_bin, reco_bin, x, N_BINS)
    reco_counts, _ = histogram(reco_bin, N_BINS)
    counts, cov = unfold(response, reco_counts)
    truth_counts, _ = histogram(truth_bin, N_BINS)
    np.testing.assert_allclose(counts, truth_counts, rtol=1e-9)
    mean, error = mean_of_x(response, counts, cov, slice(None))
    assert abs(mean - x.mean()) < 1e-9 and 0 < error < 0.05
    np.testing.assert_allclose(response.matrix.sum(0), 1.0, rtol=1e-12)
    print(f"closure: condition number {response.condition:.1f}")


def test_covariance_and_pulls_from_poisson_toys():
    """Guards the propagated covariance: 2000 Poisson toys of the reco counts of an independent
    half scatter as the analytic errors say (pull mean |.| < 0.1, width 1 +- 0.1)."""
    x_a, truth_a, reco_a = _events(40_000, seed=2)
    response = build_response(truth_a, reco_a, x_a, N_BINS)
    x_b, truth_b, reco_b = _events(10_000, seed=3)
    expected, _ = histogram(reco_b, N_BINS)
    true_mean = mean_of_x(response, unfold(response, expected)[0], np.eye(N_BINS), slice(None))[0]
    rng = np.random.default_rng(4)
    pulls, unfolded = [], []
    for _ in range(2000):  # pull-mean standard error 0.022: the 0.1 bound is 4.5 sigma
        toy = rng.poisson(expected).astype(float)
        counts, cov = unfold(response, toy)
        mean, error = mean_of_x(response, counts, cov, slice(None))
        pulls.append((mean - true_mean) / error)
        unfolded.append(counts)
    pulls = np.array(pulls)
    print(f"pulls: mean {pulls.mean():.3f}, width {pulls.std(ddof=1):.3f}")
    assert abs(pulls.mean()) < 0.1 and abs(pulls.std(ddof=1) - 1) < 0.1
    analytic = np.sqrt(np.diag(unfold(response, expected)[1]))
    np.testing.assert_allclose(np.std(unfolded, axis=0, ddof=1), analytic, rtol=0.12)


def test_clear_errors_for_unusable_responses():
    """Guards against NaN results from an empty truth bin or a singular response."""
    x, truth_bin, reco_bin = _events(2_000, seed=5)
    keep = truth_bin != 3
    with pytest.raises(UnfoldingError, match=r"truth bin\(s\) \[3\] hold no response event"):
        build_response(truth_bin[keep], reco_bin[keep], x[keep], N_BINS)
    singular = Response(np.ones((2, 2)) / 2, np.ones(2), np.zeros(2), np.ones(2))
    with pytest.raises(UnfoldingError, match="singular"):
        unfold(singular, np.array([1.0, 2.0]))
    with pytest.raises(UnfoldingError, match="expected 8 reco counts"):
        unfold(build_response(truth_bin, reco_bin, x, N_BINS), np.ones(3))
