"""Unfolding of the spin observables to parton level, one code path for every reconstruction
(issue 14; the linear algebra is `evenet.stats.unfolding`).

Per observable x (the 16 of `reconstruction.OBSERVABLES`): truth and reco bins are
m_tt {< mtt_max, >= mtt_max} x ``x_bins`` equal bins of x in [-1, 1] (8: 16 bins; truth m_tt
from the partons, reco m_tt from the method's tops). Half A of the test split (``event % 2 == 0``)
builds the response: P(reco j | truth i, selected) from its selected events, the efficiency per
truth bin from all its events, selected or not. Half B's selected events are the pseudo-data.
A method with K sampled reconstructions per event puts each sample in its own (m_tt, x) bin
with weight 1/K; the covariance of the reco counts is F^T diag(w^2) F over events (the K
samples of one event are correlated), propagated exactly through the linear unfolding.

Each coefficient is a linear combination of unfolded means over the m_tt < mtt_max truth bins
(the truth mean of x inside each bin, from half A, not the bin centre):
C_ab = -9<cos θ+_a cos θ-_b>, B+_a = 3<cos θ+_a>, B-_a = -3<cos θ-_a>, D_phi = -3<cos φ>,
D = tr C / 3 and D' = -3 D. Its variance is Σ_e w_e² (Σ_o c_o h_o,e)² with h_o,e the change
of the mean of observable o per unit weight of event e: the correlations between C_kk, C_rr and
C_nn (the same events) are kept, never added in quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from analyses.qe.reconstruction import OBSERVABLES
from evenet.physics.spin import AXES
from evenet.stats import unfolding

X_BINS = 8  # equal bins of x in [-1, 1] per m_tt region (the binning)
HALF_A, HALF_B = 0, 1

# quantity -> [(observable, factor)]: the coefficient is Σ factor x mean(observable).
COEFFICIENTS: dict[str, list[tuple[str, float]]] = {
    **{f"C_{a}{b}": [(f"cc_{a}{b}", -9.0)] for a in AXES for b in AXES},
    **{f"B_plus_{a}": [(f"cos_plus_{a}", 3.0)] for a in AXES},
    **{f"B_minus_{a}": [(f"cos_minus_{a}", -3.0)] for a in AXES},
    "D": [(f"cc_{a}{a}", -3.0) for a in AXES],
    "D_phi": [("cos_phi", -3.0)],
    "D_prime": [(f"cc_{a}{a}", 9.0) for a in AXES],
}
HEADLINE = "D_phi"  # -3<cos φ>: one observable; tr C / 3 ("D") is its cross-check


def bin_index(mtt: np.ndarray, x: np.ndarray, mtt_max: float, x_bins: int = X_BINS) -> np.ndarray:
    """Bin of (m_tt, x): region (0 below mtt_max, 1 above) x ``x_bins`` bins of x in [-1, 1]."""
    x_bin = np.clip(np.floor((np.asarray(x) + 1.0) / 2.0 * x_bins), 0, x_bins - 1)
    return (np.asarray(mtt) >= mtt_max).astype(np.int64) * x_bins + x_bin.astype(np.int64)


@dataclass(frozen=True)
class Inputs:
    """One method's rows aligned to the parton table of every test event."""

    parton: pd.DataFrame  # one row per test event (reconstruction.parton_table)
    reco: pd.DataFrame  # one row per (selected event, sample k)
    event: np.ndarray  # (rows,) index of each reco row into ``parton``
    fraction: np.ndarray  # (rows,) 1/K of its event
    mtt_max: float
    x_bins: int = X_BINS

    @property
    def n_bins(self) -> int:
        return 2 * self.x_bins

    @property
    def low(self) -> slice:
        """The truth bins of the threshold region."""
        return slice(0, self.x_bins)

    @property
    def half(self) -> np.ndarray:
        return self.parton["half"].to_numpy()

    @property
    def weight(self) -> np.ndarray:
        return self.parton["weight"].to_numpy(dtype=float)

    @property
    def selected(self) -> np.ndarray:
        selected = np.zeros(len(self.parton), bool)
        selected[self.event] = True
        return selected

    def truth_bins(self, observable: str) -> np.ndarray:
        return bin_index(self.parton["mtt"], self.parton[observable], self.mtt_max, self.x_bins)

    def reco_bins(self, observable: str) -> np.ndarray:
        return bin_index(self.reco["mtt"], self.reco[observable], self.mtt_max, self.x_bins)


def align(parton: pd.DataFrame, reco: pd.DataFrame, mtt_max: float, x_bins: int = X_BINS) -> Inputs:
    """Match the method's rows to the parton rows on (sample, run, event)."""
    keys = ["sample", "run", "event"]
    index = pd.MultiIndex.from_frame(parton[keys])
    event = index.get_indexer(pd.MultiIndex.from_frame(reco[keys]))
    if (event < 0).any():
        raise unfolding.UnfoldingError(
            f"{int((event < 0).sum())} reconstructed rows have no parton-level event: the "
            "observables files come from different datasets; rerun qe_reconstruct"
        )
    bad = ~np.isfinite(reco[["mtt", *OBSERVABLES]].to_numpy()).all(1)
    if bad.any():
        raise unfolding.UnfoldingError(
            f"{int(bad.sum())} reconstructed rows hold NaN or inf (m_tt or an observable)"
        )
    per_event = np.bincount(event, minlength=len(parton))
    return Inputs(parton, reco, event, 1.0 / per_event[event], mtt_max, x_bins)


def response(inputs: Inputs, observable: str, event_weight: np.ndarray) -> unfolding.Response:
    """Half A's response for one observable, events weighted by ``event_weight``."""
    half_a = inputs.half == HALF_A
    truth = inputs.truth_bins(observable)
    rows = half_a[inputs.event]
    unselected = half_a & ~inputs.selected
    event = np.concatenate([inputs.event[rows], np.flatnonzero(unselected)])
    not_selected = -np.ones(int(unselected.sum()), dtype=np.int64)
    return unfolding.build_response(
        truth_bin=truth[event],
        reco_bin=np.concatenate([inputs.reco_bins(observable)[rows], not_selected]),
        truth_x=inputs.parton[observable].to_numpy()[event],
        n_bins=inputs.n_bins,
        weight=np.concatenate(
            [event_weight[inputs.event[rows]] * inputs.fraction[rows], event_weight[unselected]]
        ),
    )


def fractions(inputs: Inputs, observable: str) -> sparse.csr_matrix:
    """F (test events, bins) of half B's selected events (rows of half A are empty)."""
    rows = inputs.half[inputs.event] == HALF_B
    return unfolding.event_fractions(
        inputs.event[rows],
        inputs.reco_bins(observable)[rows],
        inputs.fraction[rows],
        len(inputs.parton),
        inputs.n_bins,
    )


@dataclass(frozen=True)
class Observable:
    """One observable unfolded from half B: truth counts, their covariance, the mean over
    the threshold bins and each event's influence on it (d mean / d w_e)."""

    response: unfolding.Response
    jacobian: np.ndarray
    fractions: sparse.csr_matrix
    reco_counts: np.ndarray
    counts: np.ndarray
    cov: np.ndarray
    mean: float
    influence: np.ndarray  # (test events,)


@dataclass(frozen=True)
class Prepared:
    """What every unfolding method needs of one observable: half A's response, half B's
    event-to-bin fractions and its reco counts (no inversion yet)."""

    response: unfolding.Response
    fractions: sparse.csr_matrix
    reco_counts: np.ndarray
    reco_cov: np.ndarray


def prepare(inputs: Inputs, observable: str, event_weight: np.ndarray) -> Prepared:
    resp = response(inputs, observable, event_weight)
    f = fractions(inputs, observable)
    return Prepared(resp, f, *unfolding.counts_and_covariance(f, event_weight))


def unfold_observable(inputs: Inputs, observable: str, event_weight: np.ndarray) -> Observable:
    resp, f, reco_counts, reco_cov = astuple_shallow(prepare(inputs, observable, event_weight))
    jac = unfolding.jacobian(resp)
    counts, cov = jac @ reco_counts, jac @ reco_cov @ jac.T
    mean, gradient = unfolding.mean_gradient(resp, counts, inputs.low)
    influence = np.asarray(f @ (jac.T @ gradient)).ravel()
    return Observable(resp, jac, f, reco_counts, counts, cov, mean, influence)


def astuple_shallow(prepared: Prepared) -> tuple:
    return prepared.response, prepared.fractions, prepared.reco_counts, prepared.reco_cov


def combine(
    quantities: dict[str, list[tuple[str, float]]],
    means: dict[str, float],
    influence: dict[str, np.ndarray],
    weight: np.ndarray,
) -> dict[str, tuple[float, float]]:
    """(value, standard error) of each quantity from means and per-event influences."""
    out = {}
    for name, terms in quantities.items():
        value = sum(factor * means[o] for o, factor in terms)
        total = sum(factor * influence[o] for o, factor in terms)
        out[name] = (float(value), float(np.sqrt(np.sum((weight * total) ** 2))))
    return out


def unfold_all(inputs: Inputs, event_weight: np.ndarray | None = None):
    """Every coefficient unfolded from half B: ({quantity: (value, stat)}, {observable:
    Observable})."""
    weight = inputs.weight if event_weight is None else event_weight
    done = {o: unfold_observable(inputs, o, weight) for o in OBSERVABLES}
    values = combine(
        COEFFICIENTS,
        {o: u.mean for o, u in done.items()},
        {o: u.influence for o, u in done.items()},
        weight,
    )
    return values, done


def region_migration(inputs: Inputs, half: int = HALF_A) -> dict[str, float]:
    """How well the reco m_tt separates the regions on one half: P(reco < mtt_max | truth
    < mtt_max, selected), the same for truth >= mtt_max, and the purity of the reco-low
    region. Close probabilities make the region block of every response nearly singular."""
    rows = inputs.half[inputs.event] == half
    event = inputs.event[rows]
    weight = inputs.weight[event] * inputs.fraction[rows]
    truth_low = inputs.parton["mtt"].to_numpy()[event] < inputs.mtt_max
    reco_low = inputs.reco["mtt"].to_numpy()[rows] < inputs.mtt_max

    def share(numerator, denominator):
        total = weight[denominator].sum()
        return float(weight[numerator & denominator].sum() / total) if total > 0 else float("nan")

    return {
        "p_reco_low_given_truth_low": share(reco_low, truth_low),
        "p_reco_low_given_truth_high": share(reco_low, ~truth_low),
        "reco_low_purity": share(truth_low, reco_low),
    }


def _event_means(values: np.ndarray, weight: np.ndarray):
    """Weighted mean of per-event values and each event's influence on it."""
    total = weight.sum()
    if total <= 0:
        raise unfolding.UnfoldingError("no event in the region to average over")
    mean = float((weight * values).sum() / total)
    return mean, (values - mean) / total


def parton_level(
    parton: pd.DataFrame, mask: np.ndarray, weight: np.ndarray | None = None
) -> dict[str, tuple[float, float]]:
    """Coefficients of the parton-level events in ``mask`` (value, standard error)."""
    w = parton["weight"].to_numpy(dtype=float) if weight is None else weight
    w = np.where(mask, w, 0.0)
    means, influence = {}, {}
    for o in OBSERVABLES:
        means[o], influence[o] = _event_means(parton[o].to_numpy(), w)
    return combine(COEFFICIENTS, means, influence, w)


def reco_level(inputs: Inputs) -> dict[str, tuple[float, float]]:
    """Coefficients of half B's reconstructed rows with reco m_tt < mtt_max, not unfolded
    (what the detector-level distributions give), errors over events."""
    rows = (inputs.half[inputs.event] == HALF_B) & (inputs.reco["mtt"].to_numpy() < inputs.mtt_max)
    w_rows = np.where(rows, inputs.weight[inputs.event] * inputs.fraction, 0.0)
    n = len(inputs.parton)
    total = w_rows.sum()
    if total <= 0:
        raise unfolding.UnfoldingError("no half-B reconstructed event below mtt_max")
    means, influence = {}, {}
    for o in OBSERVABLES:
        x = inputs.reco[o].to_numpy()
        means[o] = float((w_rows * x).sum() / total)
        # d mean / d w_e of an event = Σ_k f_k (x_k - mean) / total
        per_row = np.where(rows, inputs.fraction * (x - means[o]) / total, 0.0)
        influence[o] = np.bincount(inputs.event, per_row, minlength=n)
    return combine(COEFFICIENTS, means, influence, inputs.weight)


def toys(
    inputs: Inputs, observables: dict[str, Observable], lam: float, n_toys: int, seed: int
) -> dict[str, np.ndarray]:
    """Poisson toys at a luminosity: every selected half-B event gets one Poisson(λ) weight
    (times its own), shared by all observables, and is unfolded with half A's response.
    Returns the toy values of every coefficient, (n_toys,) each."""
    rng = np.random.default_rng(seed)
    events = np.flatnonzero(inputs.selected & (inputs.half == HALF_B))
    base = inputs.weight[events]
    means = {o: np.empty(n_toys) for o in observables}
    transposed = {o: u.fractions[events].T.tocsr() for o, u in observables.items()}
    chunk = max(1, int(2e7 // max(len(events), 1)))
    for start in range(0, n_toys, chunk):
        stop = min(n_toys, start + chunk)
        weights = rng.poisson(lam, size=(stop - start, len(events))) * base
        for o, u in observables.items():
            reco = np.asarray(transposed[o] @ weights.T).T  # (toys, bins)
            means[o][start:stop] = unfolding.means_of_x(u.response, reco @ u.jacobian.T, inputs.low)
    return {
        name: sum(factor * means[o] for o, factor in terms) for name, terms in COEFFICIENTS.items()
    }


def bootstrap_closure(
    inputs: Inputs,
    n_boot: int,
    seed: int,
    quantities: tuple[str, ...],
    response_too: bool = True,
) -> dict[str, np.ndarray]:
    """Unfolded minus parton-level value of half B under Poisson(1) bootstrap weights of
    every test event (both halves: the response and the pseudo-data vary; with
    ``response_too`` False half A keeps weight 1), (n_boot,) each; NaN for a resample whose
    response cannot be inverted."""
    rng = np.random.default_rng(seed)
    fixed = (inputs.half == HALF_A) & (not response_too)
    needed = sorted({o for q in quantities for o, _ in COEFFICIENTS[q]})
    subset = {q: COEFFICIENTS[q] for q in quantities}
    truth_region = (inputs.half == HALF_B) & (inputs.parton["mtt"].to_numpy() < inputs.mtt_max)
    out = {q: np.empty(n_boot) for q in quantities}
    for b in range(n_boot):
        weight = inputs.weight * np.where(fixed, 1, rng.poisson(1.0, size=len(inputs.parton)))
        try:
            means = {o: unfold_observable(inputs, o, weight).mean for o in needed}
        except unfolding.UnfoldingError:  # a resample left a truth bin empty: not counted
            for q in quantities:
                out[q][b] = np.nan
            continue
        zero = {o: np.zeros(len(weight)) for o in needed}
        unfolded = combine(subset, means, zero, weight)
        parton = parton_level(inputs.parton, truth_region, weight)
        for q in quantities:
            out[q][b] = unfolded[q][0] - parton[q][0]
    return out
