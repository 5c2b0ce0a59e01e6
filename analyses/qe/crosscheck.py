"""Cross-checks of the matrix inversion on the same inputs (issue 14): iterative Bayesian
unfolding (`evenet.stats.iterative`, pyunfold) with errors from toys, and a template fit
(`evenet.stats.template`, iminuit) of each coefficient whose parton density is linear in it.

Template fit: the parton density of z = cos θ⁺_a cos θ⁻_b is ∝ −ln|z| (1 − C_ab z) and that of
z = cos φ is ∝ (1 − D z) — both linear in the coefficient θ. Half A's selected events,
reweighted from their own parton value θ_A to θ by (1 − θ z)/(1 − θ_A z) where the parton
m_tt is below mtt_max (events above keep weight 1), predict half B's 16 reco bins as
norm × (base + θ slope); θ and norm come from a binned Poisson likelihood.
"""

from __future__ import annotations

import numpy as np

from analyses.qe import unfold as U
from evenet.physics.spin import AXES
from evenet.stats.iterative import iterative_bayes
from evenet.stats.template import TemplateFitError, fit_linear_template
from evenet.stats.unfolding import UnfoldingError, means_of_x

QUANTITIES = ("D_phi", "D", "C_kk", "C_rr", "C_nn")
# quantity -> observable whose parton density is g(z) (1 - quantity * z)
TEMPLATES = {"D_phi": "cos_phi", **{f"C_{a}{a}": f"cc_{a}{a}" for a in AXES}}


def _iterative_mean(observable, reco_counts: np.ndarray, low: slice) -> tuple[float, int]:
    counts, iterations = iterative_bayes(observable.response, reco_counts)
    return float(means_of_x(observable.response, counts[None, :], low)[0]), iterations


def iterative(
    inputs: U.Inputs, observables: dict, n_toys: int, seed: int
) -> dict[str, tuple[float, float, int]]:
    """(value, standard deviation over Poisson(1) resamples of half B's events, iterations)
    of each quantity of QUANTITIES."""
    needed = sorted({o for q in QUANTITIES for o, _ in U.COEFFICIENTS[q]})
    rng = np.random.default_rng(seed)
    events = np.flatnonzero(inputs.selected & (inputs.half == U.HALF_B))
    means, toys, iterations = {}, {o: np.empty(n_toys) for o in needed}, {}
    for o in needed:
        means[o], iterations[o] = _iterative_mean(
            observables[o], observables[o].reco_counts, inputs.low
        )
    for t in range(n_toys):
        weight = np.zeros(len(inputs.parton))
        weight[events] = inputs.weight[events] * rng.poisson(1.0, len(events))
        for o in needed:
            reco = np.asarray(observables[o].fractions.T @ weight).ravel()
            toys[o][t] = _iterative_mean(observables[o], reco, inputs.low)[0]
    out = {}
    for q in QUANTITIES:
        terms = U.COEFFICIENTS[q]
        value = sum(f * means[o] for o, f in terms)
        spread = sum(f * toys[o] for o, f in terms)
        out[q] = (float(value), float(np.std(spread, ddof=1)), max(iterations[o] for o, _ in terms))
    return out


def template(
    inputs: U.Inputs, observables: dict, quantity: str, theta_a: float
) -> tuple[float, float]:
    """(θ, HESSE error) of the template fit of one quantity of TEMPLATES."""
    observable = TEMPLATES[quantity]
    rows = inputs.half[inputs.event] == U.HALF_A
    event = inputs.event[rows]
    z = inputs.parton[observable].to_numpy()[event]
    low = inputs.parton["mtt"].to_numpy()[event] < inputs.mtt_max
    denominator = 1.0 - theta_a * z
    if (denominator[low] <= 0).any():
        raise TemplateFitError(f"{quantity}: half A's value {theta_a:.3f} is outside (-1, 1)")
    weight = inputs.weight[event] * inputs.fraction[rows]
    base_weight = np.where(low, weight / denominator, weight)
    slope_weight = np.where(low, -weight * z / denominator, 0.0)
    reco_bin = inputs.reco_bins(observable)[rows]
    base = np.bincount(reco_bin, base_weight, minlength=inputs.n_bins)
    slope = np.bincount(reco_bin, slope_weight, minlength=inputs.n_bins)
    fit = fit_linear_template(observables[observable].reco_counts, base, slope, theta_a)
    return fit.theta, fit.theta_error


def crosscheck_rows(fields, inputs, observables, values, parton_b, n_toys, seed) -> list[dict]:
    """One row per quantity: inversion, iterative and template values with their errors.
    ``observables`` are `unfold.Observable` or `unfold.Prepared` (the response, fractions and
    reco counts); ``values`` None where the inversion failed (its columns stay empty)."""
    half_a_low = (inputs.half == U.HALF_A) & (inputs.parton["mtt"].to_numpy() < inputs.mtt_max)
    parton_a = U.parton_level(inputs.parton, half_a_low)
    try:
        bayes = iterative(inputs, observables, n_toys, seed)
        bayes_status = ""
    except UnfoldingError as error:
        bayes, bayes_status = {}, f"iterative failed: {error}"
    rows = []
    for q in QUANTITIES:
        row = {
            **fields,
            "quantity": q,
            "parton": parton_b[q][0],
            "inversion": values[q][0] if values else "",
            "inversion_stat": values[q][1] if values else "",
            "iterative": bayes.get(q, ("", "", ""))[0],
            "iterative_stat": bayes.get(q, ("", "", ""))[1],
            "iterations": bayes.get(q, ("", "", ""))[2],
            "template": "",
            "template_stat": "",
            "status": bayes_status,
        }
        if q in TEMPLATES:
            try:
                row["template"], row["template_stat"] = template(
                    inputs, observables, q, parton_a[q][0]
                )
            except TemplateFitError as error:
                row["status"] = "; ".join(filter(None, [row["status"], str(error)]))
        rows.append(row)
    return rows
