"""Stage `qe_response_study`: how many events the unfolding needs, measured with the analytic
reconstruction (no machine learning, so no training event can bias it).

Two setups: the analysis's (response from half A of the test split, pseudo-data half B) and
one with every event of the dataset (response from the train split, pseudo-data val + test:
about 16 and 4 times more). Each gets its closure against the pseudo-data's parton value,
with the spread of ``--bootstrap`` Poisson(1) resamples of both the response and the
pseudo-data and the count of resamples that could be inverted. A diagnostic of the
statistics, not the measurement: the EveNet methods cannot use train-split events.

    python -m analyses.qe.response_study --dataset D --output response_study.csv \
        [--mtt-max 400 --x-bins 8 --bootstrap 100 --seed 1 --m-top 173 --m-w 80.385]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from analyses.qe import reconstruction as rec
from analyses.qe import unfold as U
from analyses.qe.events import load_test_events
from evenet.errors import EvenetError
from evenet.io.results import write_csv
from evenet.physics.neutrino import M_TOP, M_W
from evenet.stats.unfolding import UnfoldingError

TRAIN, TEST = 0, 2  # split codes
QUANTITIES = ("D_phi", "D", "C_kk", "C_rr", "C_nn")
COLUMNS = (
    "setup",
    "response_events",
    "response_selected",
    "data_events",
    "data_selected",
    "quantity",
    "unfolded",
    "parton",
    "difference",
    "sigma_bootstrap",
    "sigma_central68",
    "invertible_resamples",
    "resamples",
    "status",
)


def central68(values: np.ndarray) -> float | str:
    """Half the width of the central 68% of the values: a spread that a few resamples with a
    near-singular response cannot blow up (for a Gaussian it equals the standard deviation)."""
    if len(values) < 2:
        return ""
    low, high = np.percentile(values, [16, 84])
    return float((high - low) / 2)


def study(dataset, mtt_max, x_bins, n_boot, seed, m_top=M_TOP, m_w=M_W) -> list[dict]:
    events = load_test_events(dataset, ("train", "val", "test"))
    reco = rec.observables_table(events, rec.analytic(events, m_top, m_w)).to_pandas()
    parton = rec.parton_table(events).to_pandas()
    is_test = events.split == TEST
    test_half = np.where(events.event % 2 == 0, U.HALF_A, U.HALF_B)
    setups = {  # per event: HALF_A response, HALF_B pseudo-data, -1 unused
        "response test A, pseudo-data test B (the analysis's)": np.where(is_test, test_half, -1),
        "response train, pseudo-data val + test": np.where(
            events.split == TRAIN, U.HALF_A, U.HALF_B
        ),
    }
    rows = []
    for name, half in setups.items():
        keep = half >= 0
        table = parton[keep].assign(half=half[keep].astype(np.int8)).reset_index(drop=True)
        kept = set(zip(table["run"], table["event"], strict=True))
        mine = reco[[k in kept for k in zip(reco["run"], reco["event"], strict=True)]]
        inputs = U.align(table, mine.reset_index(drop=True), mtt_max, x_bins)
        region_b = (table["half"] == U.HALF_B).to_numpy() & (table["mtt"] < mtt_max).to_numpy()
        truth = U.parton_level(table, region_b)
        response, data = table["half"] == U.HALF_A, table["half"] == U.HALF_B
        common = {
            "setup": name,
            "response_events": int(response.sum()),
            "response_selected": int((response & table["selected"]).sum()),
            "data_events": int(data.sum()),
            "data_selected": int((data & table["selected"]).sum()),
            "resamples": n_boot,
        }
        try:
            values, _ = U.unfold_all(inputs)
        except UnfoldingError as error:
            rows += [
                {**common, "quantity": q, "status": f"unfolding failed: {error}"}
                for q in QUANTITIES
            ]
            continue
        spread = U.bootstrap_closure(inputs, n_boot, seed, QUANTITIES)
        for q in QUANTITIES:
            finite = spread[q][np.isfinite(spread[q])]
            rows.append(
                {
                    **common,
                    "quantity": q,
                    "unfolded": values[q][0],
                    "parton": truth[q][0],
                    "difference": values[q][0] - truth[q][0],
                    "sigma_bootstrap": float(np.std(finite, ddof=1)) if len(finite) > 1 else "",
                    "sigma_central68": central68(finite),
                    "invertible_resamples": len(finite),
                    "status": "",
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Response statistics of the qe unfolding.")
    parser.add_argument("--dataset", required=True, help="converted qe dataset folder")
    parser.add_argument("--output", required=True, type=Path, help="response_study.csv")
    parser.add_argument("--mtt-max", type=float, default=400.0)
    parser.add_argument("--x-bins", type=int, default=U.X_BINS)
    parser.add_argument("--bootstrap", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--m-top", type=float, default=M_TOP)
    parser.add_argument("--m-w", type=float, default=M_W)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        rows = study(
            args.dataset, args.mtt_max, args.x_bins, args.bootstrap, args.seed, args.m_top, args.m_w
        )
    except EvenetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    write_csv(args.output, rows, COLUMNS)
    for row in rows:
        print(
            f"{row['setup'][:40]:<40} {row['quantity']:<6} {row.get('unfolded', '')!s:>22} "
            f"parton {row.get('parton', '')!s:>22} ± {row.get('sigma_central68', '')!s:>22} "
            f"({row.get('invertible_resamples', 0)}/{args.bootstrap}) {row['status']}"
        )
    print(f"[qe] response study: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
