"""rule anomaly_flow: CATHODE's flow baseline on the generator's sideband events (the same
training / validation events as the EveNet generators), sampled at every condition file's
masses (the SB validation masses for the generation-quality check, the SR masses per search).

    python -m analyses.anomaly.flow_stage --selected PARQUET --sideband PARQUET \
        --conditions JSON --outputs JSON --seed S --epochs N
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from analyses.anomaly.classifier import FEATURES
from analyses.anomaly.flow import FlowSettings, train_flow
from analyses.anomaly.samples import data_features
from analyses.anomaly.stage_cli import run_stage
from evenet.io.predictions import keys, locate, to_numpy
from evenet.io.results import write_json, write_parquet


def sideband_events(selected: pa.Table, sideband_list) -> pa.Table:
    """The selected events named in the generator's sideband list."""
    where = locate(keys(pq.read_table(sideband_list)), keys(selected))
    return selected.take(pa.array(np.flatnonzero(where >= 0), pa.int64()))


def run(selected, sideband, conditions: dict, outputs: dict, seed: int, epochs: int, log=print):
    events = sideband_events(pq.read_table(selected), sideband)
    validation = to_numpy(events.column("generator_val")).astype(bool)
    log(f"[flow] {events.num_rows} sideband events ({int(validation.sum())} validate), seed {seed}")
    trained = train_flow(
        data_features(events),
        to_numpy(events.column("mass")),
        FlowSettings(epochs=epochs, seed=seed),
        log=log,
        validation=validation,
    )
    dropped = {}
    for name, path in conditions.items():
        masses = to_numpy(pq.read_table(path).column("M_ll")).astype(np.float64)
        with warnings.catch_warnings():  # counted below instead
            warnings.filterwarnings("ignore", "Some values .* are NaN", UserWarning)
            drawn = trained.sample(masses, seed=seed)
        # The inverse power transform has no value beyond its range (a far tail draw): drop
        # those few samples and count them.
        finite = np.isfinite(drawn).all(1)
        masses, drawn = masses[finite], drawn[finite]
        dropped[name] = int((~finite).sum())
        drawn[:, 1:] = np.clip(drawn[:, 1:], 0.0, None)  # ip3d >= 0, as evenet sample
        columns = {"mass": masses, **{f: drawn[:, i] for i, f in enumerate(FEATURES)}}
        write_parquet(outputs[name], pa.table(columns))
        log(f"[flow] {len(masses)} samples for {name} ({dropped[name]} non-finite dropped)")
    history = [{"train": t, "validation": v} for t, v in trained.history]
    write_json(
        outputs["record"],
        {"best_epoch": trained.best_epoch, "dropped_nonfinite": dropped, "history": history},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analyses.anomaly.flow_stage")
    parser.add_argument("--selected", required=True)
    parser.add_argument("--sideband", required=True)
    parser.add_argument("--conditions", required=True, help="name -> condition file (JSON)")
    parser.add_argument("--outputs", required=True, help="name -> output (JSON), and record")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    args = parser.parse_args(argv)
    return run_stage(
        "anomaly_flow",
        lambda: run(
            args.selected,
            args.sideband,
            json.loads(args.conditions),
            json.loads(args.outputs),
            args.seed,
            args.epochs,
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
