"""Iterative Bayesian unfolding (D'Agostini) through `pyunfold`, on a `Response` of
`evenet.stats.unfolding`: the cross-check of the matrix inversion on the same inputs."""

from __future__ import annotations

import warnings

import numpy as np
from pyunfold import iterative_unfold

from evenet.stats.unfolding import Response, UnfoldingError


def iterative_bayes(
    response: Response, reco_counts: np.ndarray, ts_stopping: float = 0.01, max_iter: int = 100
) -> tuple[np.ndarray, int]:
    """Truth counts (efficiency-corrected) and the number of iterations. pyunfold wants
    P(reco j, selected | truth i) (columns summing to the efficiency) and the efficiencies;
    the prior is flat, the stopping rule a Kolmogorov-Smirnov distance below ``ts_stopping``
    between iterations. Its own errors are not used: callers take the spread of toys."""
    reco_counts = np.asarray(reco_counts, dtype=float)
    if reco_counts.sum() <= 0:
        raise UnfoldingError("no reco counts to unfold")
    joint = response.matrix * response.efficiency[None, :]
    with warnings.catch_warnings():
        # pyunfold divides by zero for empty reco bins and warns; those bins carry no weight
        warnings.simplefilter("ignore", RuntimeWarning)
        result = iterative_unfold(
            data=reco_counts,
            data_err=np.sqrt(np.maximum(reco_counts, 1.0)),
            response=joint,
            response_err=np.zeros_like(joint),
            efficiencies=response.efficiency,
            efficiencies_err=np.zeros_like(response.efficiency),
            ts="ks",
            ts_stopping=ts_stopping,
            max_iter=max_iter,
        )
    return np.asarray(result["unfolded"], dtype=float), int(result["num_iterations"])
