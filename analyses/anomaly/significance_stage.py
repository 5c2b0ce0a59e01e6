"""rule anomaly_significance: the bump hunts of one search after each classifier
(arXiv:2502.14036 `07_significances.py`): cut and count at every FPR and the likelihood-
reweighted fit, on opposite-sign data and on the same-sign control (where it has enough
sideband events), for every (method, seed), on the data and on bootstrap resamples of it.
A random-score line (uniform scores, cut and count only: reweighting by the likelihood ratio
of a score that is not one means nothing) shows what a useless classifier gives.

Bootstrap: resample the search's events with replacement (scores fixed), then redo the FPR
cut and the fits; `bootstrap` = 0 is the data itself. The bands of the summary are the 16/84%
quantiles over seeds x resamples.

    python -m analyses.anomaly.significance_stage --scores JSON --options JSON --outputs JSON
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pyarrow.parquet as pq

from analyses.anomaly.stage_cli import run_stage
from evenet.errors import EvenetError
from evenet.io.predictions import to_numpy
from evenet.io.results import write_csv
from evenet.stats.weak_supervision import cut_and_count, in_sidebands, reweighted

CUT_COLUMNS = (
    "method", "sign", "fpr", "seed", "bootstrap", "Z", "S", "B", "fpr_measured", "converged",
)  # fmt: skip
REWEIGHTED_COLUMNS = ("method", "sign", "seed", "bootstrap", "Z", "S", "B", "mu", "converged")
RANDOM = "random"


def fprs_of(options: dict) -> np.ndarray:
    f = options["fpr"]
    return np.logspace(np.log10(f["max"]), np.log10(f["min"]), f["points"])


def _fit_window(options: dict) -> dict:
    w = options["window"]
    return {"sr": tuple(w["sr"]), "sb": tuple(w["sb"]), "sr_edges": w["sr_edges"],
            "degree": w["degree"]}  # fmt: skip


def _converged(result: dict) -> bool:
    return bool(result.get("converged", True))


def hunts(mass, score, method, sign, seed, options, rng, reweight=True) -> tuple[list, list]:
    """Cut-and-count rows and reweighted rows of one (method, sign, seed): the data and each
    bootstrap resample."""
    window = _fit_window(options)
    fprs = fprs_of(options)
    cut_rows, rew_rows = [], []
    for b in range(options["bootstrap"] + 1):
        rows = np.arange(len(mass)) if b == 0 else rng.integers(0, len(mass), len(mass))
        m, s = mass[rows], score[rows]
        for result in _safe_cut_and_count(m, s, fprs, window):
            cut_rows.append(
                {
                    "method": method,
                    "sign": sign,
                    "fpr": result["fpr"],
                    "seed": seed,
                    "bootstrap": b,
                    "Z": result["significance"],
                    "S": result["s"],
                    "B": result["b"],
                    "fpr_measured": result["fpr_measured"],
                    "converged": _converged(result),
                }  # fmt: skip
            )
        if not reweight:
            continue
        result = _safe(lambda m=m, s=s: reweighted(m, s, **window))
        rew_rows.append(
            {
                "method": method,
                "sign": sign,
                "seed": seed,
                "bootstrap": b,
                "Z": result["significance"],
                "S": result["s"],
                "B": result["b"],
                "mu": result.get("mu", float("nan")),
                "converged": _converged(result),
            }  # fmt: skip
        )
    return cut_rows, rew_rows


def _failed() -> dict:
    nan = float("nan")
    return {"significance": nan, "s": nan, "b": nan, "fpr_measured": nan, "converged": False}


def _safe(fit) -> dict:
    """A fit that cannot run (too few events left after a tight cut) is a row of NaN."""
    try:
        return fit()
    except EvenetError:
        return _failed()


def _safe_cut_and_count(mass, score, fprs, window) -> list[dict]:
    results = []
    for fpr in fprs:
        result = _safe(lambda fpr=fpr: cut_and_count(mass, score, [fpr], **window)[0])
        results.append({**result, "fpr": float(fpr)})
    return results


def run(scores: dict[str, str], options: dict, outputs: dict, log=print) -> None:
    """``scores``: "method/seed" -> scores file of rule anomaly_classify."""
    window = _fit_window(options)
    rng = np.random.default_rng(options["seed"])
    cut_rows, rew_rows = [], []
    random_done = set()
    for key, path in sorted(scores.items()):
        method, seed = key.split("/")
        table = pq.read_table(path)
        mass, score = to_numpy(table.column("mass")), to_numpy(table.column("score"))
        if np.isnan(score).all():  # its classifier had too few events (status in its record)
            log(f"[significance] {key}: no scores (insufficient events), not fitted")
            continue
        opposite = to_numpy(table.column("opposite_sign")).astype(bool)
        for sign, chosen in (("OS", opposite), ("SS", ~opposite)):
            sideband = int(in_sidebands(mass[chosen], window["sr"], window["sb"]).sum())
            if sideband < options["min_sideband_events"]:
                log(f"[significance] {key} {sign}: {sideband} sideband events, not fitted")
                continue
            cuts, rews = hunts(mass[chosen], score[chosen], method, sign, seed, options, rng)
            cut_rows += cuts
            rew_rows += rews
            log(f"[significance] {key} {sign}: reweighted Z = {rews[0]['Z']:.2f} (data)")
            if sign not in random_done:  # one random-score line per sign
                random_done.add(sign)
                uniform = rng.random(int(chosen.sum()))
                cuts, _ = hunts(mass[chosen], uniform, RANDOM, sign, "0", options, rng, False)
                cut_rows += cuts
    write_csv(outputs["cut_and_count"], cut_rows, CUT_COLUMNS)
    write_csv(outputs["reweighted"], rew_rows, REWEIGHTED_COLUMNS)
    from analyses.anomaly.plots import plot_z_vs_fpr

    plot_z_vs_fpr(cut_rows, rew_rows, outputs["plot"], title=options.get("title", ""))
    scored = [
        (key, path)
        for key, path in sorted(scores.items())
        if not np.isnan(to_numpy(pq.read_table(path, columns=["score"]).column("score"))).all()
    ]
    first = scored[0] if scored else None
    if first is None:
        from analyses.anomaly.plots import placeholder

        placeholder(outputs["spectra"], "no classifier had enough events to score")
    else:
        from analyses.anomaly.plots import plot_cut_spectra

        table = pq.read_table(first[1])
        opposite = to_numpy(table.column("opposite_sign")).astype(bool)
        plot_cut_spectra(
            to_numpy(table.column("mass"))[opposite],
            to_numpy(table.column("score"))[opposite],
            window,
            outputs["spectra"],
            title=f"{options.get('title', '')} {first[0]}",
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analyses.anomaly.significance_stage")
    parser.add_argument("--scores", required=True, help="method/seed -> scores file (JSON)")
    parser.add_argument("--options", required=True)
    parser.add_argument("--outputs", required=True)
    args = parser.parse_args(argv)
    return run_stage(
        "anomaly_significance",
        lambda: run(json.loads(args.scores), json.loads(args.options), json.loads(args.outputs)),
    )


if __name__ == "__main__":
    sys.exit(main())
