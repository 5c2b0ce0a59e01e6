"""Binned Poisson fit of a template linear in one parameter, with `iminuit`:
expected counts mu_j = norm * (base_j + theta * slope_j)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from iminuit import Minuit

from evenet.errors import EvenetError


class TemplateFitError(EvenetError, RuntimeError):
    """The fit did not converge or the template predicts no events."""


@dataclass(frozen=True)
class TemplateFit:
    theta: float
    theta_error: float  # HESSE (Poisson likelihood, data statistics only)
    norm: float
    valid: bool


def fit_linear_template(
    counts: np.ndarray, base: np.ndarray, slope: np.ndarray, theta_start: float = 0.0
) -> TemplateFit:
    """Maximum-likelihood theta and norm for Poisson ``counts`` (weighted counts are treated
    as Poisson: fine for unit weights). Bins where the template is non-positive make the
    likelihood infinite, so the fit stays where every bin expects events."""
    counts, base, slope = (np.asarray(a, dtype=float) for a in (counts, base, slope))
    if base.sum() <= 0:
        raise TemplateFitError("the template predicts no events")

    def nll(norm, theta):
        mu = norm * (base + theta * slope)
        if (mu <= 0).any():
            return 1e30
        return float(np.sum(mu - counts * np.log(mu)))

    fit = Minuit(nll, norm=counts.sum() / base.sum(), theta=theta_start)
    fit.errordef = Minuit.LIKELIHOOD
    fit.limits["norm"] = (0, None)
    fit.migrad()
    fit.hesse()
    if not fit.valid:
        raise TemplateFitError(f"the template fit did not converge: {fit.fmin}")
    return TemplateFit(
        float(fit.values["theta"]), float(fit.errors["theta"]), float(fit.values["norm"]), True
    )
