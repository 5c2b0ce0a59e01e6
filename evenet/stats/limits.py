"""Expected upper limits on a signal strength from binned score histograms, with `pyhf`
(asymptotic CLs; PHYSICS.md §4).

The model: one channel; the signal scaled by the POI μ (normfactor, bounds [0, bound]); the
background with a normalisation uncertainty (normsys, ±``norm_uncertainty``) and its MC
statistical uncertainty (staterror from Σw² per bin). Bins are merged first, from the high-score
end, until every bin has background and a relative MC error below ``max_rel_error`` (the edges
are returned). Data: the Asimov background-only expectation. The bin merging is ours (pyhf
takes the histogram as given); the statistics are pyhf's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyhf

from evenet.errors import EvenetError


class LimitError(EvenetError, ValueError):
    """The histograms cannot make a limit (no background, shapes, non-finite yields)."""


@dataclass(frozen=True)
class Limit:
    """Expected limit on μ: the median and the ±1σ, ±2σ band (at_bound: a band edge at the
    POI bound, to be reported as "> bound"), and the merged bin edges (indices into the input
    bins: bin k of the model spans input bins edges[k]..edges[k+1]-1)."""

    minus2: float
    minus1: float
    median: float
    plus1: float
    plus2: float
    edges: list[int]
    at_bound: bool


def merge_bins(background: np.ndarray, sumw2: np.ndarray, max_rel_error: float = 0.3):
    """Group adjacent bins from the last (highest score) down until each group has background
    > 0 and √Σw²/Σw < ``max_rel_error``; a remainder at the low end joins its neighbour.
    Returns the group start indices plus the end (len(background)). LimitError when even the
    whole histogram misses the criterion."""
    background, sumw2 = np.asarray(background, float), np.asarray(sumw2, float)
    if background.sum() <= 0:
        raise LimitError("the background histogram is empty")
    starts, total, total_w2 = [], 0.0, 0.0
    end = len(background)
    for i in range(len(background) - 1, -1, -1):
        total, total_w2 = total + background[i], total_w2 + sumw2[i]
        if total > 0 and np.sqrt(total_w2) / total < max_rel_error:
            starts.append(i)
            total, total_w2 = 0.0, 0.0
    if not starts:  # even one bin of everything has too large an MC error: no honest limit
        error = np.sqrt(sumw2.sum()) / background.sum()
        raise LimitError(
            f"the background's relative MC error is {error:.0%} even in one bin "
            f"(> {max_rel_error:.0%}): too few simulated background events for a limit"
        )
    starts = sorted(starts)
    starts[0] = 0  # the low-end remainder joins the lowest complete group
    return [*starts, end]


def _merge(values: np.ndarray, edges: list[int]) -> np.ndarray:
    return np.add.reduceat(np.asarray(values, dtype=float), edges[:-1])


def expected_limit(
    signal: np.ndarray,
    background: np.ndarray,
    background_sumw2: np.ndarray,
    norm_uncertainty: float = 0.3,
    max_rel_error: float = 0.3,
    bound: float = 100.0,
    level: float = 0.05,
) -> Limit:
    """The expected CLs upper limit on μ (signal yields for μ = 1)."""
    signal, background, sumw2 = (
        np.asarray(a, dtype=float) for a in (signal, background, background_sumw2)
    )
    if not (signal.shape == background.shape == sumw2.shape) or signal.ndim != 1:
        raise LimitError("signal, background and Σw² need one value per bin")
    if not (np.isfinite(signal).all() and np.isfinite(background).all()):
        raise LimitError("non-finite yields")
    if signal.sum() <= 0:
        raise LimitError("the signal histogram is empty: no limit to set")
    edges = merge_bins(background, sumw2, max_rel_error)
    s, b, w2 = _merge(signal, edges), _merge(background, edges), _merge(sumw2, edges)
    spec = {
        "channels": [
            {
                "name": "score",
                "samples": [
                    {
                        "name": "signal",
                        "data": s.tolist(),
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "background",
                        "data": b.tolist(),
                        "modifiers": [
                            {
                                "name": "background_norm",
                                "type": "normsys",
                                "data": {"hi": 1 + norm_uncertainty, "lo": 1 - norm_uncertainty},
                            },
                            {
                                "name": "background_mc_stat",
                                "type": "staterror",
                                "data": np.sqrt(w2).tolist(),
                            },
                        ],
                    },
                ],
            }
        ],
        # the POI's range: the limit search (pyhf's root finder) stays inside it
        "parameters": [{"name": "mu", "bounds": [[0.0, bound]], "inits": [min(1.0, bound)]}],
    }
    model = pyhf.Model(spec, poi_name="mu")
    data = b.tolist() + model.config.auxdata
    upper_limit = pyhf.infer.intervals.upper_limits.upper_limit
    # CLs = CLs+b / CLb is 0/0 far in the tails of a test statistic: numpy warns, pyhf's root
    # finder and scan handle the NaN.
    with np.errstate(divide="ignore", invalid="ignore"):
        try:
            _, expected = upper_limit(data, model, scan=None, level=level)
        except (ValueError, RuntimeError, pyhf.exceptions.FailedMinimization):
            # The root finder widens its bracket past the POI bound when a band's limit lies
            # beyond it; a scan of [0, bound] instead ends such a band at the bound ("> bound").
            scan = np.linspace(0.0, bound, 51)
            try:
                _, expected = upper_limit(data, model, scan=scan, level=level)
            except pyhf.exceptions.FailedMinimization as error:
                raise LimitError(f"the pyhf fit failed ({error})") from None
    values = [float(v) for v in np.asarray(expected).ravel()]
    return Limit(*values, edges=edges, at_bound=any(v >= 0.999 * bound for v in values))
