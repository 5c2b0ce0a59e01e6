"""The dimuon bump hunt: a polynomial background fitted in the sidebands, one signal-region count.

The procedure of the CATHODE dimuon study (arXiv:2502.14036, hep-lbdl/dimuonAD), which the
issue's reference numbers come from:

* Binning: ``sr_edges`` equally spaced edges over the signal region (SR); sideband (SB) bins of
  the same width step outward from the SR edges, partial bins dropped.
* Background b(m) = sum_i theta_i m^i in counts per bin, evaluated at SB bin centres; its SR
  expectation B(theta) is the integral over the SR divided by the bin width.
* Likelihood: a Poisson term per SB bin plus one Poisson term for the total SR count (SR
  membership lo < m < hi). Weighted events use the scaled Poisson: per term f = <w^2>/<w>,
  n' = n / f, lambda' = lambda / f. A term whose events all have weight 0 (or which has none)
  contributes -lambda. A mean lambda <= 0 makes -2 ln L infinite.
* Test statistic: theta_hat_hat fits the SB bins and the SR count with s = 0; theta_hat fits
  the SB alone and s_hat = N_SR - B(theta_hat); q0 = -2 ln L(0, theta_hat_hat) + 2 ln L(s_hat,
  theta_hat), 0 when s_hat < 0; Z = sqrt(q0). Start values: weighted least squares on the SB
  bins with sigma^2 = sum w^2 + 1.

The means are linear in theta and every term is a Poisson log-likelihood, so -2 ln L is convex
in theta: the default fit is Newton's method with a feasibility-keeping line search (in a
scaled polynomial basis, reported in the m^i basis), run to a Newton decrement below 1e-10,
and the convergence is reported. ``minimizer="nelder-mead"`` repeats the reference code's own
minimisation (scipy Nelder-Mead, maxiter 15090, the same start), which on some inputs stops
short of the minimum. No fitting library offers this particular likelihood (a binned
sideband Poisson plus one integrated SR count with scaled-Poisson weights), hence the code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit, minimize
from scipy.special import gammaln

from evenet.errors import EvenetError

MINIMIZERS = ("newton", "nelder-mead")
NELDER_MEAD_MAXITER = 15090  # the reference code's setting


class BumpHuntError(EvenetError, ValueError):
    """Unusable bump-hunt input (windows, too few events, bad weights)."""


@dataclass(frozen=True)
class Binning:
    sr: tuple[float, float]
    sb: tuple[float, float]
    width: float
    left: np.ndarray  # SB edges below the SR (ending at sr[0])
    signal: np.ndarray  # SR edges
    right: np.ndarray  # SB edges above the SR (starting at sr[1])

    @property
    def centres(self) -> np.ndarray:
        """Centres of the SB bins, left then right."""
        return np.concatenate([_centres(self.left), _centres(self.right)])

    def as_dict(self) -> dict:
        return {
            "width_gev": self.width,
            "left": self.left.tolist(),
            "signal": self.signal.tolist(),
            "right": self.right.tolist(),
            "bins": [len(self.left) - 1, len(self.signal) - 1, len(self.right) - 1],
        }


def _centres(edges: np.ndarray) -> np.ndarray:
    return 0.5 * (edges[1:] + edges[:-1])


def make_binning(sr: tuple[float, float], sb: tuple[float, float], sr_edges: int) -> Binning:
    """SR edges ``np.linspace(*sr, sr_edges)``; SB bins of the same width stepping outward from
    the SR edges, as many whole bins as fit between the SR and the SB ends."""
    (sr_lo, sr_hi), (sb_lo, sb_hi) = sr, sb
    if not sb_lo < sr_lo < sr_hi < sb_hi:
        raise BumpHuntError(f"need sb_lo < sr_lo < sr_hi < sb_hi, got SR {sr} and SB {sb}")
    if sr_edges < 2:
        raise BumpHuntError(f"--sr-edges must be at least 2 (got {sr_edges})")
    signal = np.linspace(sr_lo, sr_hi, sr_edges)
    width = signal[1] - signal[0]
    n_left = int(np.floor((sr_lo - sb_lo) / width + 1e-9))
    n_right = int(np.floor((sb_hi - sr_hi) / width + 1e-9))
    if n_left < 1 or n_right < 1:
        raise BumpHuntError(f"a sideband of {sb} holds no whole bin of width {width:.5g} GeV")
    left = sr_lo - width * np.arange(n_left, -1, -1)
    right = sr_hi + width * np.arange(n_right + 1)
    return Binning((sr_lo, sr_hi), (sb_lo, sb_hi), float(width), left, signal, right)


@dataclass(frozen=True)
class Terms:
    """The Poisson terms of the likelihood: SB bins then the SR count (last)."""

    n: np.ndarray  # weighted counts
    f: np.ndarray  # scale factors <w^2>/<w> (1 for an empty or all-zero term)
    sigma2: np.ndarray  # sum w^2 + 1 per SB bin (least-squares start)
    empty: np.ndarray  # no events, or every weight 0: contributes -lambda

    @property
    def n_sr(self) -> float:
        return float(self.n[-1])


def _terms_of(sums: np.ndarray, squares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f, empty) per term from the sums of w and w^2: f = <w^2>/<w> = sum w^2 / sum w; a term
    without events or with every weight 0 (sum w^2 = 0) is empty."""
    empty = squares <= 0
    if np.any(~empty & (sums <= 0)):
        raise BumpHuntError(
            "a bin's weights sum to <= 0: the scaled Poisson likelihood needs a positive "
            "mean weight in every bin"
        )
    return np.where(empty, 1.0, squares / np.where(empty, 1.0, sums)), empty


def make_terms(mass: np.ndarray, weight: np.ndarray | None, binning: Binning) -> Terms:
    mass = np.asarray(mass, dtype=np.float64)
    weight = np.ones_like(mass) if weight is None else np.asarray(weight, dtype=np.float64)
    if mass.shape != weight.shape:
        raise BumpHuntError("mass and weight columns differ in length")
    bad = ~np.isfinite(mass) | ~np.isfinite(weight)
    if bad.any():
        raise BumpHuntError(f"{int(bad.sum())} non-finite mass or weight value(s)")
    sr_lo, sr_hi = binning.sr
    sums, squares = [], []
    for edges, side in ((binning.left, mass < sr_lo), (binning.right, mass > sr_hi)):
        # np.histogram's bins: [a, b), the last one [a, b]
        sums.append(np.histogram(mass[side], edges, weights=weight[side])[0])
        squares.append(np.histogram(mass[side], edges, weights=weight[side] ** 2)[0])
    in_sr = (mass > sr_lo) & (mass < sr_hi)
    sums.append([weight[in_sr].sum()])
    squares.append([np.sum(weight[in_sr] ** 2)])
    n, w2 = np.concatenate(sums).astype(np.float64), np.concatenate(squares).astype(np.float64)
    f, empty = _terms_of(n, w2)
    return Terms(np.where(empty, 0.0, n), f, w2[:-1] + 1.0, empty)


def design(binning: Binning, degree: int, centre: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """Rows of the means' linear map: SB bins (b at the centre, in ((m - centre) / scale)^i),
    then the SR expectation (the integral over the SR / the bin width)."""
    t = (binning.centres - centre) / scale
    rows = np.vander(t, degree + 1, increasing=True)
    lo, hi = ((np.array(binning.sr) - centre) / scale).tolist()
    powers = np.arange(1, degree + 2)
    sr = scale * (hi**powers - lo**powers) / powers / binning.width
    return np.vstack([rows, sr])


def to_power_basis(theta_t: np.ndarray, centre: float, scale: float) -> np.ndarray:
    """Coefficients of sum_i theta_t[i] ((m - c) / s)^i in the m^k basis (binomial expansion)."""
    from math import comb

    degree = len(theta_t) - 1
    out = np.zeros(degree + 1)
    for i, coefficient in enumerate(theta_t):
        for k in range(i + 1):
            out[k] += coefficient * comb(i, k) * (-centre) ** (i - k) / scale**i
    return out


def minus_two_log_likelihood(lam: np.ndarray, terms: Terms, use: np.ndarray) -> float:
    """-2 ln L of the ``use``d terms at means ``lam`` (+inf where a mean is <= 0)."""
    lam, n, f, empty = lam[use], terms.n[use], terms.f[use], terms.empty[use]
    if np.any(lam <= 0):
        return float("inf")
    n_prime, lam_prime = n / f, lam / f
    ll = np.where(empty, -lam, n_prime * np.log(lam_prime) - lam_prime - gammaln(n_prime + 1))
    return float(-2.0 * ll.sum())


@dataclass
class Fit:
    theta: np.ndarray  # m^i basis
    nll2: float  # -2 ln L at the minimum
    converged: bool
    iterations: int


def _newton(
    a: np.ndarray, terms: Terms, use: np.ndarray, start: np.ndarray, barrier: float = 0.0
) -> tuple:
    """Minimise -2 ln L - 2 barrier * sum(ln lambda) over theta (means a @ theta) by damped
    Newton from a feasible start; returns (theta, -2 ln L, converged, iterations)."""
    a = a[use]
    n, f = terms.n[use], terms.f[use]
    weight_n = np.where(terms.empty[use], 0.0, n)

    def likelihood(theta):
        lam = np.full(len(terms.n), 1.0)
        lam[use] = a @ theta
        return minus_two_log_likelihood(lam, terms, use)

    def value(theta):
        nll2 = likelihood(theta)
        if barrier == 0.0 or not np.isfinite(nll2):
            return nll2
        return nll2 - 2.0 * barrier * float(np.sum(np.log(a @ theta)))

    theta, current = start.copy(), value(start)
    for iteration in range(1, 201):
        lam = a @ theta
        gradient = 2.0 * a.T @ ((1.0 - weight_n / lam) / f - barrier / lam)
        hessian = 2.0 * (a.T * ((weight_n / f + barrier) / lam**2)) @ a
        step = -np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        decrement = -float(gradient @ step)
        if decrement < 1e-10:
            return theta, likelihood(theta), True, iteration
        alpha = 1.0
        while alpha > 1e-12:
            trial = theta + alpha * step
            trial_value = value(trial)
            if trial_value <= current - 0.25 * alpha * decrement:
                break
            alpha *= 0.5
        else:
            return theta, likelihood(theta), False, iteration
        theta, current = trial, trial_value
    return theta, likelihood(theta), False, 200


def _constrained(a: np.ndarray, terms: Terms, use: np.ndarray, start: np.ndarray) -> tuple:
    """The maximum likelihood where it lies on the boundary (a mean -> 0 in empty bins, as
    after a tight classifier cut): the barrier (interior-point) method, Newton on -2 ln L -
    2 mu sum(ln lambda) for mu = 1, 0.1, ..., 1e-9 from a feasible start, each solve warm
    started from the last. Its -2 ln L is within 2 mu x (number of bins) of the optimum.
    Returns (theta, -2 ln L, converged, iterations)."""
    theta, total, converged = start.copy(), 0, True
    for mu in 10.0 ** -np.arange(0, 10):
        theta, nll2, inner, iterations = _newton(a, terms, use, theta, barrier=mu)
        total += iterations
        converged = inner
    return theta, nll2, converged, total


def _start(binning: Binning, terms: Terms, degree: int) -> np.ndarray:
    """Weighted least squares of the polynomial on the SB bins (sigma^2 = sum w^2 + 1), m^i
    basis, as the reference code's scipy curve_fit from [mean count, 0, ...]."""
    n_sb = len(binning.centres)

    def polynomial(x, *theta):
        return np.polynomial.polynomial.polyval(x, theta)

    y = terms.n[:n_sb]
    p0 = [float(np.mean(y))] + [0.0] * degree
    bounds = ([-np.inf] * (degree + 1), [np.inf] * (degree + 1))
    theta, _ = curve_fit(
        polynomial,
        binning.centres,
        y,
        p0,
        sigma=np.sqrt(terms.sigma2),
        maxfev=20000,
        bounds=bounds,
    )
    return np.asarray(theta, dtype=np.float64)


def bump_hunt(
    mass,
    weight=None,
    *,
    sr: tuple[float, float] = (9.0, 10.6),
    sb: tuple[float, float] = (5.0, 16.0),
    sr_edges: int = 12,
    degree: int = 5,
    minimizer: str = "newton",
) -> dict:
    """The mass-only bump hunt (module doc). Returns significance, q0, s, b, n_sr, chi2_ndf,
    theta (the SB fit) and theta_null (the s = 0 fit) in the m^i basis, the binning and the
    fits' convergence."""
    if minimizer not in MINIMIZERS:
        raise BumpHuntError(f"unknown minimizer '{minimizer}' ({', '.join(MINIMIZERS)})")
    if degree < 0:
        raise BumpHuntError(f"--degree must be >= 0 (got {degree})")
    binning = make_binning(sr, sb, sr_edges)
    return fit_terms(binning, make_terms(mass, weight, binning), degree, minimizer)


def fit_terms(binning: Binning, terms: Terms, degree: int, minimizer: str = "newton") -> dict:
    """The bump hunt on already histogrammed terms (an Asimov data set, for instance)."""
    if minimizer not in MINIMIZERS:
        raise BumpHuntError(f"unknown minimizer '{minimizer}' ({', '.join(MINIMIZERS)})")
    n_sb = len(binning.centres)
    if n_sb <= degree + 1:
        raise BumpHuntError(f"{n_sb} sideband bins cannot fit a degree-{degree} polynomial")
    if terms.n[:n_sb].sum() <= 0:
        raise BumpHuntError("no events in the sidebands")
    use_sb = np.r_[np.ones(n_sb, bool), False]
    use_all = np.ones(n_sb + 1, bool)
    start = _start(binning, terms, degree)
    if minimizer == "newton":
        null, sideband = _fit_newton(binning, terms, degree, start, use_all, use_sb)
    else:
        null, sideband = _fit_nelder_mead(binning, terms, degree, start, use_all, use_sb)
    a = design(binning, degree)
    b_hat = float(a[-1] @ sideband.theta)
    s_hat = terms.n_sr - b_hat
    lam = np.r_[a[:n_sb] @ sideband.theta, b_hat + s_hat]
    best = minus_two_log_likelihood(lam, terms, use_all)
    q0 = max(null.nll2 - best, 0.0) if s_hat > 0 else 0.0
    fitted = a[:n_sb] @ sideband.theta
    chi2 = float(np.sum((fitted - terms.n[:n_sb]) ** 2 / terms.sigma2))
    ndf = n_sb - (degree + 1)
    return {
        "significance": float(np.sqrt(q0)),
        "q0": float(q0),
        "s": float(s_hat),
        "b": b_hat,
        "n_sr": terms.n_sr,
        "chi2": chi2,
        "ndf": ndf,
        "chi2_ndf": chi2 / ndf if ndf > 0 else float("nan"),
        "theta": sideband.theta.tolist(),
        "theta_null": null.theta.tolist(),
        "b_null": float(a[-1] @ null.theta),
        "minimizer": minimizer,
        "converged": bool(null.converged and sideband.converged),
        "iterations": [null.iterations, sideband.iterations],
        "degree": degree,
        "sr": list(binning.sr),
        "sb": list(binning.sb),
        "sr_edges": len(binning.signal),
        "events_sb": float(terms.n[:n_sb].sum()),
        "binning": binning.as_dict(),
    }


def _fit_newton(binning, terms, degree, start, use_all, use_sb) -> tuple[Fit, Fit]:
    # a centred, scaled basis keeps the Hessian well conditioned (m^5 at 16 GeV is 1e6)
    centre = 0.5 * (binning.left[0] + binning.right[-1])
    scale = 0.5 * (binning.right[-1] - binning.left[0])
    a_t = design(binning, degree, centre, scale)
    a_m = design(binning, degree)
    start_t = np.linalg.lstsq(a_t[:-1], a_m[:-1] @ start, rcond=None)[0]  # the same curve
    if np.any(a_t @ start_t <= 0):  # the least-squares curve dips below 0: start flat
        start_t = np.r_[max(float(np.mean(terms.n[:-1])), 1.0), np.zeros(degree)]
    fits = []
    for use in (use_all, use_sb):
        theta_t, value, converged, iterations = _newton(a_t, terms, use, start_t)
        if not converged:  # the optimum is on the boundary lambda >= 0: interior point
            theta_t, value, converged, more = _constrained(a_t, terms, use, start_t)
            iterations += more
        fits.append(Fit(to_power_basis(theta_t, centre, scale), value, converged, iterations))
    return fits[0], fits[1]


def _fit_nelder_mead(binning, terms, degree, start, use_all, use_sb) -> tuple[Fit, Fit]:
    a = design(binning, degree)

    def objective(use):
        def value(theta):
            return _reference_value(a @ theta, terms, use)

        return value

    options = {"maxiter": NELDER_MEAD_MAXITER}
    null = minimize(objective(use_all), x0=start, method="Nelder-Mead", options=options)
    side = minimize(objective(use_sb), x0=null.x, method="Nelder-Mead", options=options)
    return (
        Fit(null.x, float(null.fun), bool(null.success), int(null.nit)),
        Fit(side.x, float(side.fun), bool(side.success), int(side.nit)),
    )


def _reference_value(lam: np.ndarray, terms: Terms, use: np.ndarray) -> float:
    """-2 ln L as the reference code evaluates it: NaN where a mean is negative (scipy's
    Poisson logpmf and its log of a negative number), +inf where it is 0 with events. The
    simplex treats NaN and +inf differently (a contraction onto +inf is accepted, onto NaN it
    shrinks instead), and its first simplex, 5% on each m^i coefficient, reaches negative
    means: reproducing its numbers needs its NaNs."""
    lam, n, f, empty = lam[use], terms.n[use], terms.f[use], terms.empty[use]
    if np.any(lam < 0):
        return float("nan")
    n_prime, lam_prime = n / f, lam / f
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.where(empty, -lam, n_prime * np.log(lam_prime) - lam_prime - gammaln(n_prime + 1))
    total = -2.0 * ll.sum()
    return float(total) if not np.isnan(total) else float("inf")


def sample_signal_region_masses(
    theta, sr: tuple[float, float], n: int, rng: np.random.Generator, grid: int = 10_000
) -> np.ndarray:
    """``n`` masses drawn from the fitted background b(m) = sum theta_i m^i inside the SR
    (inverse CDF on a fine grid): the masses CATHODE conditions its SR samples on, taken from
    the sideband fit rather than from the data (arXiv:2502.14036)."""
    edges = np.linspace(sr[0], sr[1], grid + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    density = np.polynomial.polynomial.polyval(centres, np.asarray(theta, dtype=np.float64))
    if np.any(density < 0):
        raise BumpHuntError("the background fit is negative inside the SR: cannot sample it")
    cdf = np.concatenate([[0.0], np.cumsum(density)])
    cdf /= cdf[-1]
    return np.interp(rng.random(n), cdf, edges)
