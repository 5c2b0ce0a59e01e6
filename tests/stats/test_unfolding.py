"""Response-matrix unfolding: exact where it must be exact, honest errors where it is not."""

from __future__ import annotations

import numpy as np
import pytest

from evenet.stats.unfolding import (
    Response,
    UnfoldingError,
    build_response,
    counts_and_covariance,
    event_fractions,
    histogram,
    jacobian,
    mean_gradient,
    mean_of_x,
    means_of_x,
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


def test_shared_events_have_a_correlated_covariance():
    """Guards F^T diag(w^2) F: K samples of one event in several bins are correlated; with one
    entry per event it reduces to diag(sum of w^2)."""
    event = np.array([0, 0, 1, 2, 2])
    bins = np.array([0, 1, 1, 2, 2])
    fraction = np.array([0.5, 0.5, 1.0, 0.5, 0.5])
    weight = np.array([2.0, 1.0, 3.0])
    f = event_fractions(event, bins, fraction, 3, 4)
    counts, cov = counts_and_covariance(f, weight)
    np.testing.assert_allclose(counts, [1.0, 2.0, 3.0, 0.0])
    explicit = sum(w**2 * np.outer(row, row) for w, row in zip(weight, f.toarray(), strict=True))
    np.testing.assert_allclose(cov, explicit, atol=1e-12)
    assert cov[0, 1] == 1.0  # event 0: half in bin 0, half in bin 1, weight 2
    single = event_fractions(np.arange(3), np.array([0, 1, 1]), np.ones(3), 3, 2)
    np.testing.assert_allclose(counts_and_covariance(single, weight)[1], np.diag([4.0, 10.0]))


def test_mean_gradient_matches_finite_differences_and_batched_means():
    """Guards the gradient chained into per-event influences and the toy-batched means."""
    x, truth_bin, reco_bin = _events(5_000, seed=6)
    response = build_response(truth_bin, reco_bin, x, N_BINS)
    counts = unfold(response, histogram(reco_bin, N_BINS)[0])[0]
    bins = slice(0, 5)
    mean, gradient = mean_gradient(response, counts, bins)
    assert gradient[5:].tolist() == [0.0] * (N_BINS - 5)
    for i in range(N_BINS):
        step = np.zeros(N_BINS)
        step[i] = 1e-3
        moved = mean_gradient(response, counts + step, bins)[0]
        assert abs((moved - mean) / 1e-3 - gradient[i]) < 1e-6
    batch = np.stack([counts, 2 * counts, counts + 1])
    expected = [mean_of_x(response, c, np.eye(N_BINS), bins)[0] for c in batch]
    np.testing.assert_allclose(means_of_x(response, batch, bins), expected, rtol=1e-12)
    np.testing.assert_allclose(
        jacobian(response) @ histogram(reco_bin, N_BINS)[0], counts, rtol=1e-12
    )
