"""rule anomaly_select: the selected events of the searched dataset, the injection plan, the
sideband event list the EveNet generators fine-tune on, and the condition files of rule
sample and of the flow (the masses of the generator's SB validation events; per search, SR
masses drawn from that search's sideband fit, as CATHODE's `04_train_cathode.py` does).

    python -m analyses.anomaly.select_stage --dataset DIR --options JSON --outputs JSON
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pyarrow as pa

from analyses.anomaly import events as ev
from analyses.anomaly.paths import sr_conditions_name
from analyses.anomaly.stage_cli import run_stage
from evenet.io.predictions import to_numpy
from evenet.io.results import write_json, write_parquet
from evenet.stats.bumphunt import bump_hunt, sample_signal_region_masses
from evenet.stats.weak_supervision import in_sidebands

CONDITION = "M_ll"  # the generators' condition (globals_extra name) and the flow's


def run(dataset: str, options: dict, outputs: dict[str, str], log=print) -> dict:
    """``options``: window, signal_samples, injections, samples_per_sr_event, val_fraction,
    seed. ``outputs``: anomaly paths.selected's keys -> files."""
    window = options["window"]
    sr, sb = tuple(window["sr"]), tuple(window["sb"])
    table = ev.select(dataset, sb)
    log(f"[select] {table.num_rows} selected events in {sb[0]}-{sb[1]} GeV from {dataset}")
    if options["signal_samples"]:
        rank, plan = ev.injection_plan(
            table, options["signal_samples"], options["injections"], sr, sb
        )
    else:
        rank = np.full(table.num_rows, -1, dtype=np.int64)
        plan = {"b_sr": None, "injections": {"data": {"signal_total": None}}}
    table = table.append_column("signal_rank", pa.array(rank))
    validation = ev.generator_validation(table, options["val_fraction"])
    table = table.append_column("generator_val", pa.array(validation))

    mass = to_numpy(table.column("mass"))
    opposite = to_numpy(table.column("opposite_sign")).astype(bool)
    sideband = opposite & in_sidebands(mass, sr, sb)
    searches = plan["injections"]
    largest = max(
        searches.values(),
        key=lambda s: -1 if s["signal_total"] is None else s["signal_total"],
    )
    in_largest = np.zeros(table.num_rows, dtype=bool)
    in_largest[ev.search_rows(table, largest["signal_total"])] = True
    listed = sideband & in_largest
    write_parquet(
        outputs["sideband"],
        table.select(["sample", "run", "event"]).filter(pa.array(listed)),
    )
    write_parquet(
        outputs["sideband_val"],
        pa.table({CONDITION: mass[listed & validation].astype(np.float32)}),
    )
    plan["sideband_events"] = int(listed.sum())
    plan["sideband_validation_events"] = int((listed & validation).sum())
    log(
        f"[select] generator sidebands: {plan['sideband_events']} opposite-sign events "
        f"({plan['sideband_validation_events']} validate)"
    )

    rng = np.random.default_rng(options["seed"])
    for name, search in searches.items():
        rows = ev.search_rows(table, search["signal_total"])
        os_mass = mass[rows][opposite[rows]]
        fit = bump_hunt(os_mass, sr=sr, sb=sb, sr_edges=window["sr_edges"], degree=window["degree"])
        n_sr = int(np.sum((os_mass > sr[0]) & (os_mass < sr[1])))
        count = options["samples_per_sr_event"] * n_sr
        masses = sample_signal_region_masses(fit["theta"], sr, count, rng)
        write_parquet(
            outputs[sr_conditions_name(name)],
            pa.table({CONDITION: masses.astype(np.float32)}),
        )
        search.update(
            data_events=int(len(rows)),
            opposite_sign=int(len(os_mass)),
            same_sign=int(len(rows) - len(os_mass)),
            sr_events=n_sr,
            mass_only={k: fit[k] for k in ("significance", "s", "b", "chi2_ndf", "converged")},
            sr_conditions=count,
        )
        log(
            f"[select] {name}: {len(rows)} events, {n_sr} OS in the SR, mass-only Z = "
            f"{fit['significance']:.2f}; {count} SR masses from the SB fit"
        )
    write_parquet(outputs["events"], table)
    write_json(outputs["plan"], plan)
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analyses.anomaly.select_stage")
    parser.add_argument("--dataset", required=True, help="the searched dataset folder")
    parser.add_argument("--options", required=True, help="the job's options (JSON)")
    parser.add_argument("--outputs", required=True, help="output name -> path (JSON)")
    args = parser.parse_args(argv)
    return run_stage(
        "anomaly_select",
        lambda: run(args.dataset, json.loads(args.options), json.loads(args.outputs)),
    )


if __name__ == "__main__":
    sys.exit(main())
