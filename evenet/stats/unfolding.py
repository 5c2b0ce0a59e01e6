"""Unfolding by response-matrix inversion, with the full covariance (PHYSICS.md §3).

One code path for every reconstruction method: a `Response` is built from the events of one
half of the test split (truth bin of every event, reco bin of the selected ones), and
`unfold` turns reco-level bin counts of the other half (or of a toy) into truth-level counts:

    r = M s,   s_i = eps_i t_i   =>   t = diag(1/eps) M^{-1} r

with M[j, i] = P(reco j | truth i, selected) and eps_i = P(selected | truth i). The inverse is
linear, so the covariance propagates exactly: V_t = J V_r J^T with J = diag(1/eps) M^{-1}.
A mean of x over some truth bins uses the truth mean of x inside each bin (from the response's
events), not the bin centre: `mean_of_x`.

numpy.linalg.solve does the inversion; no maintained package offers this with the covariance
propagation we need (pyunfold is iterative, used as a cross-check), hence this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from evenet.errors import EvenetError


class UnfoldingError(EvenetError, ValueError):
    """The response cannot unfold these counts (empty truth bin, singular matrix, shapes)."""


@dataclass(frozen=True)
class Response:
    """What unfolding needs from the response half (see the module doc)."""

    matrix: np.ndarray  # (n_reco, n_truth): P(reco j | truth i, selected); columns sum to 1
    efficiency: np.ndarray  # (n_truth,): P(selected and in a reco bin | truth i)
    truth_means: np.ndarray  # (n_truth,): weighted mean of the truth x in each truth bin
    truth_counts: np.ndarray  # (n_truth,): weighted truth counts of the response events

    @property
    def condition(self) -> float:
        """Condition number of the response matrix (log it: large means noisy inversion)."""
        return float(np.linalg.cond(self.matrix))


def histogram(bins: np.ndarray, n_bins: int, weight: np.ndarray | None = None):
    """(counts, sum of weights squared) per bin of integer ``bins`` (entries outside
    0..n_bins-1, e.g. -1 for "not selected", are dropped)."""
    bins = np.asarray(bins)
    weight = np.ones(len(bins)) if weight is None else np.asarray(weight, dtype=float)
    inside = (bins >= 0) & (bins < n_bins)
    counts = np.bincount(bins[inside], weight[inside], minlength=n_bins)
    sumw2 = np.bincount(bins[inside], weight[inside] ** 2, minlength=n_bins)
    return counts, sumw2


def build_response(
    truth_bin: np.ndarray,
    reco_bin: np.ndarray,
    truth_x: np.ndarray,
    n_bins: int,
    weight: np.ndarray | None = None,
) -> Response:
    """The response of the events of one half: ``truth_bin`` and ``truth_x`` for every event
    (selected or not), ``reco_bin`` -1 for events not selected (or outside every reco bin)."""
    truth_bin, reco_bin = np.asarray(truth_bin), np.asarray(reco_bin)
    if truth_bin.shape != reco_bin.shape or truth_bin.shape != np.shape(truth_x):
        raise UnfoldingError("truth_bin, reco_bin and truth_x need one entry per event")
    if ((truth_bin < 0) | (truth_bin >= n_bins)).any():
        raise UnfoldingError(f"truth bins must lie in 0..{n_bins - 1} for every event")
    weight = np.ones(len(truth_bin)) if weight is None else np.asarray(weight, dtype=float)
    truth_counts, _ = histogram(truth_bin, n_bins, weight)
    empty = np.flatnonzero(truth_counts <= 0)
    if len(empty):
        raise UnfoldingError(f"truth bin(s) {empty.tolist()} hold no response event")
    selected = reco_bin >= 0
    migrations = np.zeros((n_bins, n_bins))
    np.add.at(migrations, (reco_bin[selected], truth_bin[selected]), weight[selected])
    selected_counts = migrations.sum(0)
    unselected = np.flatnonzero(selected_counts <= 0)
    if len(unselected):
        raise UnfoldingError(f"no selected response event in truth bin(s) {unselected.tolist()}")
    x_sum = np.bincount(truth_bin, weight * np.asarray(truth_x, dtype=float), minlength=n_bins)
    return Response(
        matrix=migrations / selected_counts,
        efficiency=selected_counts / truth_counts,
        truth_means=x_sum / truth_counts,
        truth_counts=truth_counts,
    )


def unfold(
    response: Response, reco_counts: np.ndarray, reco_cov: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Truth counts and their covariance from reco counts. ``reco_cov`` defaults to Poisson
    (diag(reco_counts)); pass diag(sum of w^2) for weighted counts, or a full matrix."""
    reco_counts = np.asarray(reco_counts, dtype=float)
    n = response.matrix.shape[0]
    if reco_counts.shape != (n,):
        raise UnfoldingError(f"expected {n} reco counts, got shape {reco_counts.shape}")
    if reco_cov is None:
        reco_cov = np.diag(reco_counts)
    reco_cov = np.asarray(reco_cov, dtype=float)
    if reco_cov.ndim == 1:
        reco_cov = np.diag(reco_cov)
    matrix = jacobian(response)
    return matrix @ reco_counts, matrix @ reco_cov @ matrix.T


def jacobian(response: Response) -> np.ndarray:
    """J = diag(1/eps) M^{-1}: unfolded truth counts are J @ reco counts (exactly linear)."""
    n = response.matrix.shape[0]
    try:
        inverse = np.linalg.solve(response.matrix, np.eye(n))
    except np.linalg.LinAlgError:
        raise UnfoldingError("the response matrix is singular: fewer or wider bins") from None
    return inverse / response.efficiency[:, None]


def event_fractions(
    event: np.ndarray, bins: np.ndarray, fraction: np.ndarray, n_events: int, n_bins: int
) -> sparse.csr_matrix:
    """F (n_events, n_bins): the share of each event in each bin, from entries (event index,
    bin, share), e.g. K sampled reconstructions of an event at 1/K each. Weighted bin counts
    are F^T w and, for independent events (Poisson), their covariance F^T diag(w^2) F: the
    K entries of one event are correlated, which diag(counts) would ignore."""
    event, bins = np.asarray(event), np.asarray(bins)
    inside = (bins >= 0) & (bins < n_bins)
    return sparse.csr_matrix(
        (np.asarray(fraction, dtype=float)[inside], (event[inside], bins[inside])),
        shape=(n_events, n_bins),
    )


def counts_and_covariance(fractions: sparse.csr_matrix, weight: np.ndarray):
    """Bin counts F^T w and their covariance F^T diag(w^2) F (independent events)."""
    weight = np.asarray(weight, dtype=float)
    counts = np.asarray(fractions.T @ weight).ravel()
    scaled = fractions.multiply(weight[:, None]).tocsr()
    cov = np.asarray((scaled.T @ scaled).todense())
    return counts, cov


def mean_of_x(
    response: Response, counts: np.ndarray, cov: np.ndarray, bins: np.ndarray | slice
) -> tuple[float, float]:
    """Mean of x over the truth ``bins`` (e.g. one m_tt region) and its standard error:
    sum(t_i xbar_i) / sum(t_i) with xbar_i the response events' truth mean in bin i, the error
    propagated with the full covariance of the counts."""
    mean, gradient = mean_gradient(response, counts, bins)
    variance = float(gradient @ np.asarray(cov) @ gradient)
    return mean, float(np.sqrt(max(variance, 0.0)))


def mean_gradient(
    response: Response, counts: np.ndarray, bins: np.ndarray | slice
) -> tuple[float, np.ndarray]:
    """The mean of `mean_of_x` and its gradient with respect to every truth count (zero
    outside ``bins``): chain it with `jacobian` for the gradient in the reco counts."""
    counts = np.asarray(counts, dtype=float)
    index = np.arange(len(counts))[bins]
    t, xbar = counts[index], response.truth_means[index]
    total = t.sum()
    if total <= 0:
        raise UnfoldingError("the unfolded counts of these bins do not sum to a positive number")
    mean = float((t * xbar).sum() / total)
    gradient = np.zeros(len(counts))
    gradient[index] = (xbar - mean) / total  # d mean / d t_i
    return mean, gradient


def means_of_x(response: Response, counts: np.ndarray, bins: np.ndarray | slice) -> np.ndarray:
    """`mean_of_x` of many count vectors at once (toys): ``counts`` (T, n_bins) -> (T,)."""
    counts = np.atleast_2d(np.asarray(counts, dtype=float))
    index = np.arange(counts.shape[1])[bins]
    t = counts[:, index]
    return (t * response.truth_means[index]).sum(1) / t.sum(1)
