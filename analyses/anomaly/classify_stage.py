"""rule anomaly_classify: the weakly supervised classifier of one search with one background
model (EveNet pretrained / scratch, or the flow; one seed): background samples in the SR
(label 0) against SR data (label 1), k folds, every data event (both signs, SR and SB)
scored out of fold.

    python -m analyses.anomaly.classify_stage --selected PARQUET --plan JSON --search NAME \
        --method M --samples PARQUET --options JSON --scores PARQUET --record JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from analyses.anomaly import events as ev
from analyses.anomaly.classifier import FEATURES, Settings, classifier_inputs, folds_of, score_data
from analyses.anomaly.samples import FLOW, data_features, evenet_samples, flow_samples
from analyses.anomaly.stage_cli import run_stage
from evenet.io.predictions import keys, to_numpy
from evenet.io.results import write_json, write_parquet


def search_table(selected, plan: dict, search: str) -> pa.Table:
    """The data events of one search (background plus its injected signal)."""
    if search not in plan["injections"]:
        raise KeyError(f"search {search!r} is not in the plan ({', '.join(plan['injections'])})")
    table = pq.read_table(selected)
    rows = ev.search_rows(table, plan["injections"][search]["signal_total"])
    return table.take(pa.array(rows, pa.int64()))


def run(selected, plan_path, search, method, samples_path, options, outputs, log=print) -> dict:
    """``options``: sr, folds, ensemble, seed, samples_per_sr_event."""
    plan = json.loads(Path(plan_path).read_text())
    data = search_table(selected, plan, search)
    sr = tuple(options["sr"])
    mass = to_numpy(data.column("mass"))
    opposite = to_numpy(data.column("opposite_sign")).astype(bool)
    in_sr = opposite & (mass > sr[0]) & (mass < sr[1])
    cap = options["samples_per_sr_event"] * int(in_sr.sum())
    if method == FLOW:
        samples, sample_mass, record = flow_samples(samples_path, cap)
    else:
        samples, sample_mass, record = evenet_samples(samples_path, sr, cap=cap)
    inputs = list(options.get("features") or FEATURES)
    samples = classifier_inputs(samples, sample_mass, inputs)
    log(
        f"[classify] {search} / {method}: {int(in_sr.sum())} SR data events, {len(samples)} "
        f"background samples (quality-selection efficiency {record['efficiency']:.3f})"
    )
    k = options["folds"]
    record.update(search=search, method=method, sr_data=int(in_sr.sum()), samples=len(samples))
    if min(len(samples), int(in_sr.sum())) < 2 * k:  # a CI-scale run: too few to train
        reason = f"{len(samples)} samples and {int(in_sr.sum())} SR data events for {k} folds"
        log(f"[classify] insufficient events: {reason}; scores are NaN")
        out = data.select(["sample", "run", "event", "mass", "opposite_sign"])
        signal = to_numpy(data.column("signal_rank")) >= 0
        out = out.append_column("signal", pa.array(signal))
        out = out.append_column("score", pa.array(np.full(data.num_rows, np.nan)))
        write_parquet(outputs["scores"], out)
        write_json(outputs["record"], {**record, "status": "insufficient_events", "reason": reason})
        return record
    identity = zip(
        keys(data)[0].astype(str),
        to_numpy(data.column("run")),
        to_numpy(data.column("event")),
        strict=True,
    )
    data_folds = folds_of(identity, k)
    sample_folds = np.random.default_rng(options["seed"]).permutation(len(samples)) % k
    settings = Settings(folds=k, ensemble=options["ensemble"], seed=options["seed"])
    sample_scores = np.full(len(samples), np.nan)
    scores = score_data(
        classifier_inputs(data_features(data), mass, inputs),
        data_folds,
        in_sr,
        samples,
        sample_folds,
        settings,
        sample_scores,
    )
    signal = to_numpy(data.column("signal_rank")) >= 0
    out = data.select(["sample", "run", "event", "mass", "opposite_sign"])
    out = out.append_column("signal", pa.array(signal)).append_column("score", pa.array(scores))
    write_parquet(outputs["scores"], out)
    record["status"] = "ok"
    record["features"] = inputs
    from sklearn.metrics import roc_auc_score

    # The ROC check: SR data against the background samples, both scored out of fold (0.5:
    # the samples describe the SR data, or nothing anomalous is there to find)
    record["sr_vs_samples_auc"] = float(
        roc_auc_score(
            np.r_[np.ones(int(in_sr.sum())), np.zeros(len(samples))],
            np.r_[scores[in_sr], sample_scores],
        )
    )
    log(f"[classify] SR data vs samples, out of fold: AUC {record['sr_vs_samples_auc']:.3f}")
    if signal[in_sr].any() and (~signal[in_sr]).any():
        record["truth_auc_sr"] = float(roc_auc_score(signal[in_sr], scores[in_sr]))
        log(f"[classify] truth AUC (signal vs background, SR) {record['truth_auc_sr']:.3f}")
    write_json(outputs["record"], record)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analyses.anomaly.classify_stage")
    for name in ("selected", "plan", "search", "method", "samples", "options"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--scores", required=True)
    parser.add_argument("--record", required=True)
    args = parser.parse_args(argv)
    return run_stage(
        "anomaly_classify",
        lambda: run(
            args.selected,
            args.plan,
            args.search,
            args.method,
            args.samples,
            json.loads(args.options),
            {"scores": args.scores, "record": args.record},
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
