"""rule anomaly_generation_quality: each background model against the held-out sideband data
(the generator's validation events, which neither the EveNet generators nor the flow trained
on), on the classifier features and the mass: classifier AUC, MMD and coverage, plus the same
metrics between two halves of the real events (what "indistinguishable" measures at this
size).

    python -m analyses.anomaly.quality_stage --selected PARQUET --sideband PARQUET \
        --samples JSON --options JSON --table CSV --plot PNG
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pyarrow.parquet as pq

from analyses.anomaly.classifier import FEATURES
from analyses.anomaly.flow_stage import sideband_events
from analyses.anomaly.generation_metrics import classifier_auc, coverage, mmd
from analyses.anomaly.samples import FLOW, data_features, evenet_samples, flow_samples
from analyses.anomaly.stage_cli import run_stage
from evenet.io.predictions import to_numpy
from evenet.io.results import write_csv

COLUMNS = (
    "method", "seed", "real_events", "generated_events", "quality_efficiency",
    "auc", "auc_err", "mmd", "mmd_err", "coverage", "coverage_err",
)  # fmt: skip


def metrics(real: np.ndarray, generated: np.ndarray, seed: int) -> dict:
    auc, auc_err = classifier_auc(real, generated, seed=seed)
    value, value_err = mmd(real, generated, seed=seed)
    cov, cov_err = coverage(real, generated, seed=seed)
    return {"auc": auc, "auc_err": auc_err, "mmd": value, "mmd_err": value_err,
            "coverage": cov, "coverage_err": cov_err}  # fmt: skip


def run(selected, sideband, samples: dict[str, str], options: dict, outputs: dict, log=print):
    sr, sb = tuple(options["window"]["sr"]), tuple(options["window"]["sb"])
    events = sideband_events(pq.read_table(selected), sideband)
    held_out = to_numpy(events.column("generator_val")).astype(bool)
    real = np.column_stack([data_features(events), to_numpy(events.column("mass"))])[held_out]
    log(f"[quality] {len(real)} held-out sideband data events")
    rows, shown = [], {}
    halves = np.random.default_rng(options["seed"]).permutation(len(real)) % 2 == 0
    rows.append({"method": "real_half", "seed": "", "real_events": int(halves.sum()),
                 "generated_events": int((~halves).sum()), "quality_efficiency": 1.0,
                 **metrics(real[halves], real[~halves], options["seed"])})  # fmt: skip
    for key, path in sorted(samples.items()):
        method, seed = key.split("/")
        if method == FLOW:
            features, mass, record = flow_samples(path)
        else:
            features, mass, record = evenet_samples(path, sr, sb=sb)
        generated = np.column_stack([features, mass])
        if len(generated) < 10:
            log(f"[quality] {key}: {len(generated)} usable events, no metrics")
            continue
        row = {"method": method, "seed": seed, "real_events": len(real),
               "generated_events": len(generated), "quality_efficiency": record["efficiency"],
               **metrics(real, generated, options["seed"])}  # fmt: skip
        rows.append(row)
        log(
            f"[quality] {key}: AUC {row['auc']:.3f}, MMD {row['mmd']:.4f}, coverage "
            f"{row['coverage']:.3f}, quality efficiency {record['efficiency']:.3f}"
        )
        shown.setdefault(method, generated)
    write_csv(outputs["table"], rows, COLUMNS)
    from analyses.anomaly.plots import label, plot_features

    names = [*FEATURES, "mass"]
    plot_features(
        {n: real[:, i] for i, n in enumerate(names)},
        {label(m): {n: g[:, i] for i, n in enumerate(names)} for m, g in shown.items()},
        outputs["plot"],
        title="sideband validation events: real vs generated",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analyses.anomaly.quality_stage")
    for name in ("selected", "sideband", "samples", "options", "table", "plot"):
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args(argv)
    return run_stage(
        "anomaly_generation_quality",
        lambda: run(
            args.selected,
            args.sideband,
            json.loads(args.samples),
            json.loads(args.options),
            {"table": args.table, "plot": args.plot},
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
