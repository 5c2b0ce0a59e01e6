"""Stage `qe_unfold`: every method's spin coefficients unfolded from half B with half A's
response, their closure and their precision at a stated luminosity (issue 14).

    python -m analyses.qe.measure method --label L --observables DIR --info reconstruction.json \
        --output-dir DIR/unfolding/L [--mtt-max 400 --x-bins 8 --luminosity-fb 139
        --cross-section-pb 38.8 --toys 500 --bootstrap 200 --crosscheck-toys 100 --seed 1]
    python -m analyses.qe.measure merge --methods-dir DIR/unfolding --observables DIR \
        --info reconstruction.json --output-dir DIR [same options]
    python -m analyses.qe.measure all ...     # both in one process

``method`` unfolds one method of reconstruction.json into its own folder (one job per method
on a cluster); ``merge`` writes each table once for all methods (and the parton level):

* ``spin_matrix.csv``: quantity (C_ab, B±_a, D, D_phi, D_prime), level (parton: half B's
  generator-level events with m_tt < mtt_max; reco: half B's reconstructed rows with reco
  m_tt < mtt_max, not unfolded; unfolded), method, run, mode, size, seed, value, stat (the
  analytic standard error: events for parton and reco, the propagated covariance for
  unfolded), events, min_truth_bin_events (the fewest half-A response events in a truth
  bin of the threshold region among the observables of the quantity: the statistics behind
  the number).
* ``closure.csv``: unfolded minus parton-level half B for D_phi, D, C_kk, C_rr, C_nn, with the
  standard deviation of ``--bootstrap`` Poisson(1) resamples of both halves (and half the
  width of their central 68%, which a few near-singular resamples cannot inflate).
* ``precision.csv``: ``--toys`` Poisson toys at L x σ (every selected half-B event weighted by
  Poisson(λ), λ = L σ / N(half B): the expected events per simulated one, shared by the 16
  observables); σ(D) = toy standard deviation, bias = toy mean − half B's parton D, ε =
  σ(D) / |D_B + 1/3| and σ(D)/|D_B|; half A's response is fixed (its statistics are not in σ).
* ``crosscheck.csv`` (analytic and EveNet, not the diagnostics): the same D_phi, D, C_kk,
  C_rr, C_nn from iterative Bayesian unfolding (pyunfold; σ from ``--crosscheck-toys``
  Poisson(1) resamples of half B, default 100) and from a template fit (iminuit; HESSE σ),
  beside the inversion's.
* ``bins.csv``: per observable and bin, half A's truth and selected events, the efficiency,
  half B's reco count, the unfolded count with its error and half B's parton count.
* ``toys.parquet``: the toy values of D_phi and D per method (pull plots), and
  ``unfolding.json``: condition numbers, λ, wall time.

A method whose response cannot be inverted (an empty or unselected truth bin, a singular
matrix: too few events) gets ``status`` = the reason in every table instead of numbers; the
other methods go on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analyses.qe import unfold as U
from analyses.qe.crosscheck import crosscheck_rows
from analyses.qe.response_study import central68
from evenet.errors import EvenetError
from evenet.io.results import write_csv, write_json, write_parquet
from evenet.stats.unfolding import UnfoldingError

RUN_FIELDS = ("method", "run", "mode", "size", "seed")
SPIN_COLUMNS = (
    "quantity",
    "level",
    *RUN_FIELDS,
    "value",
    "stat",
    "events",
    "min_truth_bin_events",
    "status",
)
CLOSURE_QUANTITIES = ("D_phi", "D", "C_kk", "C_rr", "C_nn")
CLOSURE_COLUMNS = (
    *RUN_FIELDS,
    "quantity",
    "unfolded",
    "parton",
    "difference",
    "sigma_bootstrap",
    "sigma_central68",
    "pull",
    "bootstraps",
    "status",
)
PRECISION_QUANTITIES = ("D_phi", "D")
PRECISION_COLUMNS = (
    *RUN_FIELDS,
    "quantity",
    "D",
    "sigma",
    "sigma_analytic",
    "D_prime",
    "sigma_D_prime",
    "epsilon",
    "epsilon_cms",
    "D_parton",
    "bias",
    "bias_err",
    "pull_mean",
    "pull_width",
    "toys",
    "luminosity_fb",
    "cross_section_pb",
    "lam",
    "status",
)
BIN_COLUMNS = (
    *RUN_FIELDS,
    "observable",
    "bin",
    "region",
    "x_low",
    "x_high",
    "truth_events_a",
    "selected_events_a",
    "efficiency",
    "reco_b",
    "unfolded",
    "unfolded_err",
    "parton_b",
)
CROSSCHECK_COLUMNS = (
    *RUN_FIELDS,
    "quantity",
    "parton",
    "inversion",
    "inversion_stat",
    "iterative",
    "iterative_stat",
    "iterations",
    "template",
    "template_stat",
    "status",
)
PB_PER_FB = 1000.0
# table name -> its columns; the name is also the key of a method's result and the file stem
TABLES = {
    "spin": SPIN_COLUMNS,
    "closure": CLOSURE_COLUMNS,
    "precision": PRECISION_COLUMNS,
    "bins": BIN_COLUMNS,
    "crosscheck": CROSSCHECK_COLUMNS,
}
TABLE_FILES = {"spin": "spin_matrix.csv"}  # file names that differ from the key


def table_file(name: str) -> str:
    return TABLE_FILES.get(name, f"{name}.csv")


def _fields(meta: dict) -> dict:
    return {k: meta.get(k, "") for k in RUN_FIELDS}


def _min_truth_events(observables: dict, quantity: str, low: slice) -> int:
    terms = U.COEFFICIENTS[quantity]
    return int(min(observables[o].response.truth_counts[low].min() for o, _ in terms))


def _spin_rows(level, fields, values, events, status="", min_events=None):
    return [
        {
            "quantity": q,
            "level": level,
            **fields,
            "value": v,
            "stat": s,
            "events": events,
            "min_truth_bin_events": "" if min_events is None else min_events(q),
            "status": status,
        }
        for q, (v, s) in values.items()
    ]


def _bin_rows(fields, inputs: U.Inputs, observables: dict) -> list[dict]:
    rows = []
    half_a = inputs.half == U.HALF_A
    half_b = inputs.half == U.HALF_B
    n_x = inputs.x_bins
    edges = np.linspace(-1.0, 1.0, n_x + 1)
    for o, u in observables.items():
        truth = inputs.truth_bins(o)
        truth_a = np.bincount(truth[half_a], minlength=inputs.n_bins)
        selected_a = np.bincount(truth[half_a & inputs.selected], minlength=inputs.n_bins)
        parton_b = np.bincount(truth[half_b], minlength=inputs.n_bins)
        unfolded = isinstance(u, U.Observable)  # a Prepared one where the inversion failed
        errors = np.sqrt(np.clip(np.diag(u.cov), 0.0, None)) if unfolded else None
        for i in range(inputs.n_bins):
            rows.append(
                {
                    **fields,
                    "observable": o,
                    "bin": i,
                    "region": "low" if i < n_x else "high",
                    "x_low": edges[i % n_x],
                    "x_high": edges[i % n_x + 1],
                    "truth_events_a": int(truth_a[i]),
                    "selected_events_a": int(selected_a[i]),
                    "efficiency": u.response.efficiency[i],
                    "reco_b": u.reco_counts[i],
                    "unfolded": u.counts[i] if unfolded else "",
                    "unfolded_err": errors[i] if unfolded else "",
                    "parton_b": int(parton_b[i]),
                }
            )
    return rows


@dataclass(frozen=True)
class Settings:
    """What every method's unfolding shares (config analyses.qe)."""

    mtt_max: float = 400.0
    x_bins: int = U.X_BINS
    luminosity_fb: float = 139.0
    cross_section_pb: float = 38.8
    toys: int = 500
    bootstrap: int = 200
    crosscheck_toys: int = 100
    seed: int = 1


METHOD_FILES = (*(table_file(name) for name in TABLES), "toys.parquet", "report.json")


def _parton_b(parton: pd.DataFrame, mtt_max: float):
    half_b = parton["half"].to_numpy() == U.HALF_B
    if not half_b.any():
        raise UnfoldingError("half B of the test split is empty: no pseudo-data")
    region_b = half_b & (parton["mtt"].to_numpy() < mtt_max)
    return U.parton_level(parton, region_b), int(region_b.sum()), int(half_b.sum())


def measure_method(
    observables_dir: Path, label: str, meta: dict, settings: Settings, folder: Path
) -> dict:
    """Unfold one method; write its tables (METHOD_FILES) into ``folder``."""
    t0 = time.perf_counter()
    parton = pd.read_parquet(observables_dir / "parton.parquet")
    parton_b, region_events, n_half_b = _parton_b(parton, settings.mtt_max)
    lam = settings.luminosity_fb * PB_PER_FB * settings.cross_section_pb / n_half_b
    fields = _fields(meta)
    reco = pd.read_parquet(observables_dir / f"{label}.parquet")
    inputs = U.align(parton, reco, settings.mtt_max, settings.x_bins)
    report = {"label": label, "lambda": lam, "region_migration": U.region_migration(inputs)}
    try:  # the detector-level coefficients need no response: they exist where unfolding fails
        reco_rows = _spin_rows(
            "reco",
            fields,
            U.reco_level(inputs),
            _reco_low_events(inputs),
        )
    except UnfoldingError as error:
        reco_rows = _spin_rows(
            "reco", fields, dict.fromkeys(U.COEFFICIENTS, ("", "")), "", str(error)
        )
    try:
        result = _measure_method(fields, inputs, parton_b, region_events, lam, settings)
    except UnfoldingError as error:
        status = f"unfolding failed: {error}"
        print(f"[qe] {label}: {status}", flush=True)
        empty = dict.fromkeys(U.COEFFICIENTS, ("", ""))
        crosscheck, bins = [], []
        if fields["method"] in ("analytic", "evenet"):  # the regularised methods may still work
            try:
                prepared = {o: U.prepare(inputs, o, inputs.weight) for o in U.OBSERVABLES}
                bins = _bin_rows(fields, inputs, prepared)
                crosscheck = crosscheck_rows(
                    fields,
                    inputs,
                    prepared,
                    None,
                    parton_b,
                    settings.crosscheck_toys,
                    settings.seed,
                )
            except UnfoldingError:  # no response at all (an empty truth bin)
                crosscheck, bins = [], []
        result = {
            "spin": _spin_rows("unfolded", fields, empty, "", status),
            "closure": [{**fields, "quantity": q, "status": status} for q in CLOSURE_QUANTITIES],
            "precision": [
                {**fields, "quantity": q, "status": status} for q in PRECISION_QUANTITIES
            ],
            "bins": bins,
            "crosscheck": crosscheck,
            "toys": {q: np.array([]) for q in PRECISION_QUANTITIES},
        }
        report["status"] = status
    else:
        report["condition"] = result["condition"]
        values = result["values"]
        print(
            f"[qe] {label}: D_phi = {values['D_phi'][0]:.3f} ± {values['D_phi'][1]:.3f} "
            f"(parton {parton_b['D_phi'][0]:.3f}), {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    result["spin"] = reco_rows + result["spin"]
    for name, columns in TABLES.items():
        write_csv(folder / table_file(name), result[name], columns)
    n = len(next(iter(result["toys"].values())))
    write_parquet(folder / "toys.parquet", pa.table({"label": [label] * n, **result["toys"]}))
    report["seconds"] = round(time.perf_counter() - t0, 2)
    write_json(folder / "report.json", report)
    return report


def merge(
    observables_dir: Path,
    labels: list[str],
    methods_dir: Path,
    output_dir: Path,
    settings: Settings,
) -> dict:
    """The tables of every method in one file each (the parton rows first), unfolding.json."""
    parton = pd.read_parquet(observables_dir / "parton.parquet")
    parton_b, region_events, n_half_b = _parton_b(parton, settings.mtt_max)
    merged = {name: [] for name in TABLES}
    merged["spin"] = _spin_rows("parton", _fields({"method": "parton"}), parton_b, region_events)
    toys, methods = [], {}
    missing = [label for label in labels if not (methods_dir / label / "report.json").is_file()]
    if missing:
        raise UnfoldingError(
            f"no unfolding of {', '.join(missing)} in {methods_dir}: run `measure method` (rule "
            "qe_unfold_method) for every method of reconstruction.json first"
        )
    for label in labels:
        folder = methods_dir / label
        for name in TABLES:
            table = pd.read_csv(folder / table_file(name), dtype=str, keep_default_na=False)
            merged[name] += table.to_dict("records")
        toys.append(pq.read_table(folder / "toys.parquet"))
        methods[label] = json.loads((folder / "report.json").read_text())
    for name, columns in TABLES.items():
        write_csv(output_dir / table_file(name), merged[name], columns)
    table = pa.concat_tables(toys, promote_options="permissive") if toys else pa.table({})
    write_parquet(output_dir / "toys.parquet", table)
    lam = settings.luminosity_fb * PB_PER_FB * settings.cross_section_pb / n_half_b
    report = {
        "lambda": lam,
        "half_b_events": n_half_b,
        "settings": asdict(settings),
        "methods": methods,
    }
    write_json(output_dir / "unfolding.json", report)
    return report


def measure(observables_dir: Path, info: dict, output_dir: Path, settings: Settings) -> dict:
    """Every method of reconstruction.json, then the merged tables (one process)."""
    methods_dir = output_dir / "unfolding"
    for label, meta in info["methods"].items():
        measure_method(observables_dir, label, meta, settings, methods_dir / label)
    return merge(observables_dir, list(info["methods"]), methods_dir, output_dir, settings)


def _reco_low_events(inputs: U.Inputs) -> int:
    """Half-B events below mtt_max at reco level (K samples of an event count 1/K each)."""
    rows = inputs.half[inputs.event] == U.HALF_B
    low = inputs.reco["mtt"].to_numpy() < inputs.mtt_max
    return int(round(float(inputs.fraction[rows & low].sum())))


def _measure_method(fields, inputs, parton_b, region_events, lam, settings) -> dict:
    """Every table's rows of one method (raises UnfoldingError when it cannot be unfolded)."""
    values, observables = U.unfold_all(inputs)
    spin = _spin_rows(
        "unfolded",
        fields,
        values,
        region_events,
        min_events=lambda q: _min_truth_events(observables, q, inputs.low),
    )
    toy_values = U.toys(inputs, observables, lam, settings.toys, settings.seed)
    closure, unstable = _closure_rows(
        fields, inputs, values, parton_b, settings.bootstrap, settings.seed
    )
    for row in spin:
        row["status"] = unstable
    crosscheck = []
    if fields["method"] in ("analytic", "evenet"):  # not for the diagnostics
        crosscheck = crosscheck_rows(
            fields,
            inputs,
            observables,
            values,
            parton_b,
            settings.crosscheck_toys,
            settings.seed,
        )
    return {
        "crosscheck": crosscheck,
        "values": values,
        "spin": spin,
        "bins": _bin_rows(fields, inputs, observables),
        "closure": closure,
        "precision": _precision_rows(
            fields,
            values,
            parton_b,
            toy_values,
            lam,
            settings.luminosity_fb,
            settings.cross_section_pb,
            unstable,
        ),
        "toys": {q: toy_values[q] for q in PRECISION_QUANTITIES},
        "condition": {o: u.response.condition for o, u in observables.items()},
    }


STABLE_FRACTION = 0.9  # of the bootstrap resamples whose response must invert


def _closure_rows(fields, inputs, values, parton_b, n_boot, seed) -> tuple[list[dict], str]:
    """The closure rows, and "" or why the response is unstable: fewer than 90% of the
    resamples could be inverted, so σ(boot) (from the survivors) understates the spread and
    the method's numbers are not trustworthy at these statistics."""
    spread = U.bootstrap_closure(inputs, n_boot, seed, CLOSURE_QUANTITIES)
    survivors = min(int(np.isfinite(v).sum()) for v in spread.values())
    unstable = ""
    if survivors < STABLE_FRACTION * n_boot:
        unstable = (
            f"unstable response: {survivors} of {n_boot} bootstrap resamples could be unfolded"
        )
    rows = []
    for q in CLOSURE_QUANTITIES:
        difference = values[q][0] - parton_b[q][0]
        finite = spread[q][np.isfinite(spread[q])]
        sigma = float(np.std(finite, ddof=1)) if len(finite) > 1 else float("nan")
        rows.append(
            {
                **fields,
                "quantity": q,
                "unfolded": values[q][0],
                "parton": parton_b[q][0],
                "difference": difference,
                "sigma_bootstrap": sigma,
                "sigma_central68": central68(finite),
                "pull": difference / sigma if sigma > 0 else float("nan"),
                "bootstraps": len(finite),
                "status": unstable,
            }
        )
    return rows, unstable


def _precision_rows(
    fields, values, parton_b, toy_values, lam, lumi, xsec, unstable: str = ""
) -> list[dict]:
    rows = []
    for q in PRECISION_QUANTITIES:
        toys = toy_values[q]
        if not np.isfinite(toys).all():
            raise UnfoldingError(f"{int((~np.isfinite(toys)).sum())} toys of {q} are not finite")
        sigma = float(np.std(toys, ddof=1))
        analytic = values[q][1] / np.sqrt(lam)
        d_parton = parton_b[q][0]
        pulls = (toys - values[q][0]) / analytic if analytic > 0 else np.full(len(toys), np.nan)
        rows.append(
            {
                **fields,
                "quantity": q,
                "D": values[q][0],
                "sigma": sigma,
                "sigma_analytic": analytic,
                "D_prime": -3.0 * values[q][0],
                "sigma_D_prime": 3.0 * sigma,
                "epsilon": sigma / abs(d_parton + 1.0 / 3.0),
                "epsilon_cms": sigma / abs(d_parton),
                "D_parton": d_parton,
                "bias": float(np.mean(toys)) - d_parton,
                "bias_err": sigma / np.sqrt(len(toys)),
                "pull_mean": float(np.mean(pulls)),
                "pull_width": float(np.std(pulls, ddof=1)),
                "toys": len(toys),
                "luminosity_fb": lumi,
                "cross_section_pb": xsec,
                "lam": lam,
                "status": unstable,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Unfold, close and toy the qe observables.")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("method", help="one method into --output-dir")
    one.add_argument("--label", required=True, help="a method of reconstruction.json")
    merged = commands.add_parser("merge", help="the tables of every method in one file each")
    merged.add_argument("--methods-dir", required=True, type=Path, help="per-method folders")
    everything = commands.add_parser("all", help="every method, then merge (one process)")
    for sub in (one, merged, everything):
        sub.add_argument("--observables", required=True, type=Path, help="qe_reconstruct folder")
        sub.add_argument("--info", required=True, type=Path, help="reconstruction.json")
        sub.add_argument("--output-dir", required=True, type=Path)
        sub.add_argument("--mtt-max", type=float, default=400.0)
        sub.add_argument("--x-bins", type=int, default=U.X_BINS, help="x bins per m_tt region")
        sub.add_argument("--luminosity-fb", type=float, default=139.0)
        sub.add_argument("--cross-section-pb", type=float, default=38.8)
        sub.add_argument("--toys", type=int, default=500)
        sub.add_argument("--bootstrap", type=int, default=200)
        sub.add_argument("--crosscheck-toys", type=int, default=100, help="pyunfold resamples")
        sub.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    settings = Settings(
        args.mtt_max,
        args.x_bins,
        args.luminosity_fb,
        args.cross_section_pb,
        args.toys,
        args.bootstrap,
        args.crosscheck_toys,
        args.seed,
    )
    try:
        info = json.loads(args.info.read_text())
        if args.command == "method":
            if args.label not in info["methods"]:
                raise UnfoldingError(f"{args.label!r} is not a method of {args.info}")
            meta = info["methods"][args.label]
            measure_method(args.observables, args.label, meta, settings, args.output_dir)
        elif args.command == "merge":
            labels = list(info["methods"])
            merge(args.observables, labels, args.methods_dir, args.output_dir, settings)
        else:
            measure(args.observables, info, args.output_dir, settings)
    except (EvenetError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
