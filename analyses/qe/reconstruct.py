"""Stage `qe_reconstruct`: every reconstruction of the selected test events, as per-event
observables (Parquet), the pairing efficiencies and the reconstruction's bookkeeping.

    python -m analyses.qe.reconstruct --dataset D --runs JSON --output-dir DIR \
        --pairing pairing.csv --info reconstruction.json [--m-top 173 --m-w 80.385]

``--runs`` is a JSON list of the EveNet fine-tunings ({run, mode, size, seed, path} with the
prediction file's path; ``[]`` for none). Writes ``DIR/<label>.parquet`` per method
(`reconstruction.Method.label`: parton, analytic, its diagnostics, and per fine-tuning evenet
and its diagnostics), pairing.csv (method, run, mode, size, seed, eff_matchable, eff_all, n,
n_matchable, with binomial errors) and reconstruction.json (counts, the analytic
no-solution fraction, EveNet's fallback fraction, wall time per method).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.qe import reconstruction as rec
from analyses.qe.events import SplitEvents, load_test_events
from analyses.qe.selection import TOPOLOGY, SelectionError
from evenet.errors import EvenetError
from evenet.io.predictions import load, to_numpy
from evenet.io.results import write_csv, write_json, write_parquet
from evenet.physics.neutrino import M_TOP, M_W

PAIRING_COLUMNS = (
    "method",
    "run",
    "mode",
    "size",
    "seed",
    "eff_matchable",
    "eff_matchable_err",
    "eff_all",
    "eff_all_err",
    "n",
    "n_matchable",
)


def _aligned(events: SplitEvents, prediction: str, dataset: str):
    """The prediction's decoded tt̄ rows (n, 2, 2) and neutrino samples (n, K, 2, 3) in the
    order of ``events``."""
    table = load(prediction, dataset, splits=["test"])
    column = f"assignment.{TOPOLOGY}"
    if column not in table.column_names or "neutrinos" not in table.column_names:
        raise SelectionError(
            f"{prediction} lacks {column!r} or 'neutrinos': the run needs predict "
            f"{{hypotheses: [{TOPOLOGY}], neutrino_samples: K > 0}} (analyses.qe.runs)"
        )
    index = pd.MultiIndex.from_arrays(
        [table["sample"].to_pylist(), table["run"].to_numpy(), table["event"].to_numpy()]
    )
    wanted = pd.MultiIndex.from_arrays([events.sample.tolist(), events.run, events.event])
    position = index.get_indexer(wanted)
    if (position < 0).any():
        raise SelectionError(
            f"{prediction}: {int((position < 0).sum())} test events of the dataset have no "
            "prediction: rerun rule predict"
        )
    assignment = to_numpy(table[column])[position]
    neutrinos = to_numpy(table["neutrinos"])[position]
    return assignment, neutrinos


def _efficiency(correct: np.ndarray, mask: np.ndarray) -> tuple[float, float, int]:
    n = int(mask.sum())
    if n == 0:
        return float("nan"), float("nan"), 0
    p = float(correct[mask].mean())
    return p, float(np.sqrt(p * (1 - p) / n)), n


def pairing_row(events: SplitEvents, reco: rec.Reconstructed) -> dict:
    correct = rec.pairing_correct(events, reco)
    matchable = events.matchable[reco.rows]
    eff_m, err_m, n_m = _efficiency(correct, matchable)
    eff_a, err_a, n = _efficiency(correct, np.ones(len(correct), bool))
    return {
        **reco.method.fields(),
        "eff_matchable": eff_m,
        "eff_matchable_err": err_m,
        "eff_all": eff_a,
        "eff_all_err": err_a,
        "n": n,
        "n_matchable": n_m,
    }


def reconstruct_all(dataset: str, runs: list[dict], output_dir: Path, m_top: float, m_w: float):
    """Write every method's observables; return (pairing rows, info)."""
    start = time.perf_counter()
    events = load_test_events(dataset)
    info = {
        "dataset": str(dataset),
        "m_top": m_top,
        "m_w": m_w,
        "test_events": len(events),
        "dropped_without_topology": events.dropped,
        "selected": int(events.selected.sum()),
        "matchable_selected": int((events.matchable & events.selected).sum()),
        "half_a_selected": int((events.selected & (events.half == 0)).sum()),
        "half_b_selected": int((events.selected & (events.half == 1)).sum()),
        "load_seconds": round(time.perf_counter() - start, 2),
        "methods": {},
    }
    write_parquet(output_dir / "parton.parquet", rec.parton_table(events))
    pairing = []

    def publish(reco: rec.Reconstructed, seconds: float, diagnostic: bool = False):
        table = rec.observables_table(events, reco)
        write_parquet(output_dir / f"{reco.method.label}.parquet", table)
        plain = {k: v for k, v in reco.info.items() if not isinstance(v, np.ndarray)}
        info["methods"][reco.method.label] = {
            **reco.method.fields(),
            "events": len(reco.rows),
            "samples": reco.samples,
            **plain,
            "seconds": round(seconds, 2),
        }
        if not diagnostic:  # a diagnostic's pairing is the truth's or its parent's
            pairing.append(pairing_row(events, reco))
        print(
            f"[qe] {reco.method.label}: {len(reco.rows)} events x {reco.samples} samples "
            f"({seconds:.1f} s)",
            flush=True,
        )

    def with_diagnostics(reco: rec.Reconstructed, seconds: float):
        publish(reco, seconds)
        t = time.perf_counter()
        diagnostic = rec.with_truth_pairing(events, reco, m_top, m_w)
        publish(diagnostic, time.perf_counter() - t, diagnostic=True)
        t = time.perf_counter()
        publish(rec.with_truth_neutrinos(events, reco), time.perf_counter() - t, diagnostic=True)

    t = time.perf_counter()
    with_diagnostics(rec.analytic(events, m_top, m_w), time.perf_counter() - t)
    for run in runs:
        t = time.perf_counter()
        assignment, neutrinos = _aligned(events, run["path"], dataset)
        method = rec.Method("evenet", run["run"], run["mode"], str(run["size"]), str(run["seed"]))
        reco = rec.evenet(events, method, assignment, neutrinos, m_top, m_w)
        with_diagnostics(reco, time.perf_counter() - t)
    info["seconds"] = round(time.perf_counter() - start, 2)
    return pairing, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="qe reconstructions of the selected test events.")
    parser.add_argument("--dataset", required=True, help="converted qe dataset folder")
    parser.add_argument("--runs", default="[]", help="JSON list of {run, mode, size, seed, path}")
    parser.add_argument("--output-dir", required=True, type=Path, help="observables folder")
    parser.add_argument("--pairing", required=True, type=Path, help="pairing.csv to write")
    parser.add_argument("--info", required=True, type=Path, help="reconstruction.json to write")
    parser.add_argument("--m-top", type=float, default=M_TOP, help="top mass, GeV")
    parser.add_argument("--m-w", type=float, default=M_W, help="W mass, GeV")
    args = parser.parse_args(argv)
    try:
        runs = json.loads(args.runs)
        pairing, info = reconstruct_all(args.dataset, runs, args.output_dir, args.m_top, args.m_w)
    except EvenetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    write_csv(args.pairing, pairing, PAIRING_COLUMNS)
    write_json(args.info, info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
