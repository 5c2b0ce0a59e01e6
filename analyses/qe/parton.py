"""Stage `qe_parton`: the generator-level spin coefficients of every event of the qe dataset
(all splits) in the regions the measurements quote: the ceiling every reconstruction is
compared with, and the check of the sample's spin correlations (PHYSICS.md §3:
D = −0.46 ± 0.02 at m_tt < 400 GeV).

    python -m analyses.qe.parton --dataset D --output parton.csv [--mtt-max 400]

Regions: m_tt < mtt_max; the same with β_z(tt̄) < 0.9 (ATLAS's); 340 < m_tt < 380 GeV (CMS's
threshold window); and all events. Errors are the standard errors of the event means
(independent events), propagated to each coefficient with the correlations.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.qe.events import four_vectors, topology_entry
from analyses.qe.reconstruction import OBSERVABLES
from analyses.qe.selection import SelectionError, check_finite
from analyses.qe.unfold import parton_level
from evenet.errors import EvenetError
from evenet.io.predictions import load, to_numpy
from evenet.io.results import write_csv
from evenet.physics import spin

COLUMNS = ("region", "events", "quantity", "value", "stat")
QUANTITIES = ("D", "D_phi", "D_prime", "C_kk", "C_rr", "C_nn", "C_kr", "C_rk", "B_plus_k")


def parton_events(dataset: str) -> pd.DataFrame:
    """m_tt, β_z and the 16 observables of every tt̄ event of the dataset (all splits)."""
    entry = topology_entry(dataset)
    table = load(None, dataset, columns=("partons", "partons_mask", "topology", "weight"))
    table = table.filter(table["topology"].to_numpy() == entry["id"])
    if table.num_rows == 0:
        raise SelectionError(f"no event of {dataset} has the ttbar_dilepton topology")
    partons, mask = to_numpy(table["partons"]), to_numpy(table["partons_mask"])
    x_dummy = np.zeros((len(partons), 1, 1))
    check_finite(x_dummy, partons, mask, dataset)
    names = entry["partons"]
    v = {
        name: four_vectors(*(partons[:, names.index(name), k] for k in range(4)))
        for name in ("t1", "t2", "l1", "l2")
    }
    ttbar = v["t1"] + v["t2"]
    mtt = np.sqrt(np.maximum(ttbar[:, 0] ** 2 - (ttbar[:, 1:] ** 2).sum(1), 0.0))
    values = spin.observables(v["t1"], v["t2"], v["l1"], v["l2"])
    weight = table["weight"].to_numpy().astype(np.float64)
    return pd.DataFrame(
        {
            "weight": weight / weight.mean(),
            "mtt": mtt,
            "beta_z": np.abs(ttbar[:, 3] / ttbar[:, 0]),
            **{o: np.asarray(values[o]) for o in OBSERVABLES},
        }
    )


def regions(events: pd.DataFrame, mtt_max: float) -> dict[str, np.ndarray]:
    mtt, beta_z = events["mtt"].to_numpy(), events["beta_z"].to_numpy()
    return {
        f"m_tt < {mtt_max:g} GeV": mtt < mtt_max,
        f"m_tt < {mtt_max:g} GeV, beta_z < 0.9": (mtt < mtt_max) & (beta_z < 0.9),
        "340 < m_tt < 380 GeV": (mtt > 340) & (mtt < 380),
        "all": np.ones(len(mtt), bool),
    }


def parton_rows(events: pd.DataFrame, mtt_max: float) -> list[dict]:
    rows = []
    for name, mask in regions(events, mtt_max).items():
        if not mask.any():
            continue
        values = parton_level(events, mask)
        for q in QUANTITIES:
            rows.append(
                {
                    "region": name,
                    "events": int(mask.sum()),
                    "quantity": q,
                    "value": values[q][0],
                    "stat": values[q][1],
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Parton-level spin coefficients of qe.")
    parser.add_argument("--dataset", required=True, help="converted qe dataset folder")
    parser.add_argument("--output", required=True, type=Path, help="parton.csv to write")
    parser.add_argument("--mtt-max", type=float, default=400.0)
    args = parser.parse_args(argv)
    try:
        rows = parton_rows(parton_events(args.dataset), args.mtt_max)
    except EvenetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    write_csv(args.output, rows, COLUMNS)
    for row in rows:
        if row["quantity"] in ("D", "D_phi"):
            print(
                f"{row['region']:<32} {row['events']:>9} {row['quantity']:<6} "
                f"{row['value']:+.4f} ± {row['stat']:.4f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
