"""Diagnostics of the anomaly chain quoted in issue 17's note, as one JSON object: how dimuon
pT follows the mass in the selected events, how the signal and background samples differ,
how a classifier cut at a sideband FPR passes events per mass bin (mass sculpting), and how
far a generator's recomputed mass lands from its condition.

    python bench/anomaly_diagnostics.py --output-dir O [--search inj0] [--method flow_seed1]
        [--generated O/generated/anomaly/generator/pretrained/size_all/seed2/sr_inj0.parquet]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

MASS_BINS = [5, 6, 7, 8, 9, 10.6, 12, 14, 16]
PT_BINS = [(5, 7), (7, 9), (9, 10.6), (10.6, 13), (13, 16)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output-dir", required=True, help="the workflow's output_dir")
    parser.add_argument("--search", default="inj0")
    parser.add_argument("--method", default="flow_seed1", help="a scores file's stem")
    parser.add_argument("--fpr", type=float, default=0.1)
    parser.add_argument("--generated", help="an evenet sample output at SR masses")
    args = parser.parse_args()
    weak = Path(args.output_dir) / "analyses" / "anomaly" / "weak_supervision"
    events = pq.read_table(weak / "selected.parquet").to_pandas()
    result = {
        "corr_mass_pt": float(np.corrcoef(events.mass, events.dimuon_pt)[0, 1]),
        "corr_mass_ip3d0": float(np.corrcoef(events.mass, events.mu0_ip3d)[0, 1]),
        "median_pt_per_mass_bin": {
            f"{lo}-{hi}": float(events.dimuon_pt[(events.mass > lo) & (events.mass < hi)].median())
            for lo, hi in PT_BINS
        },
        "median_per_sample": events.groupby("sample")[["dimuon_pt", "mu0_ip3d", "mu1_ip3d"]]
        .median()
        .to_dict(orient="index"),
    }
    scores = pq.read_table(weak / args.search / "scores" / f"{args.method}.parquet").to_pandas()
    sideband = (scores.mass < 9) | (scores.mass > 10.6)
    cut = np.quantile(scores.score[sideband], 1 - args.fpr)
    result["pass_fraction_per_mass_bin"] = {
        "fpr": args.fpr,
        "edges": MASS_BINS,
        "fraction": [
            float((scores.score[(scores.mass > a) & (scores.mass < b)] >= cut).mean())
            for a, b in zip(MASS_BINS[:-1], MASS_BINS[1:], strict=True)
        ],
    }
    if args.generated:
        generated = pq.read_table(args.generated)
        names = json.loads(generated.schema.metadata[b"evenet_sample"])
        oversample = names["oversample"]
        conditions = pq.read_table(names["conditions"]).column("M_ll").to_numpy()
        mass = np.stack(generated.column("globals_extra").to_numpy(zero_copy_only=False))[:, 0]
        delta = mass - np.repeat(conditions, oversample)
        levels = (0.1, 0.5, 0.9)
        quantiles = np.quantile(delta, levels)
        result["generated_mass_minus_condition_quantiles"] = {
            str(q): float(v) for q, v in zip(levels, quantiles, strict=True)
        }
        result["generated_median_abs_delta_m"] = float(np.median(np.abs(delta)))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
