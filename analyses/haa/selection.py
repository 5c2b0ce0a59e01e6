"""The H → aa → 4b selection (EveNet's, PHYSICS.md §4), its cutflow per sample and the list of
selected events every method trains on (issue 15).

On the converted objects ``x`` (E, pT, η, φ, isBJet, isLepton, charge; jets are the real
non-lepton objects): at least ``min_btags`` b-tagged jets; at least ``min_jets`` jets with the
``min_jets``-th leading jet above ``jet_min_pt`` GeV; the second-leading b-tagged jet above
``bjet_min_pt`` GeV. Defaults: 3, 4, 30 and 30.

    python -m analyses.haa.selection --dataset D --cutflow cutflow.csv --events selected.parquet

cutflow.csv: per sample and step, events, Σw, the efficiency of both relative to the sample,
and N_eff = (Σw)²/Σw² of the passing events (generator weights: what limits the background's
efficiencies). The event list holds (sample, run, event, split) of every selected event, all
splits: the contract's `runs.<run>.events`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from evenet.errors import EvenetError
from evenet.io.predictions import dataset_shards, to_numpy
from evenet.io.results import write_csv, write_parquet

PT, BTAG, LEPTON = 1, 4, 5
CUTFLOW_COLUMNS = (
    "sample",
    "step",
    "events",
    "weighted",
    "efficiency",
    "weighted_efficiency",
    "n_eff",
)


class SelectionError(EvenetError, ValueError):
    """The dataset cannot be selected as asked."""


@dataclass(frozen=True)
class Cuts:
    min_btags: int = 3
    min_jets: int = 4
    jet_min_pt: float = 30.0  # GeV, the min_jets-th leading jet
    bjet_min_pt: float = 30.0  # GeV, the second-leading b-tagged jet


def _kth_largest(values: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """Per event the k-th largest (1-based) of ``values`` where ``mask``; -inf when fewer."""
    ordered = -np.sort(-np.where(mask, values, -np.inf), axis=1)
    if k > ordered.shape[1]:
        return np.full(len(values), -np.inf)
    return ordered[:, k - 1]


def select(x: np.ndarray, x_mask: np.ndarray, cuts: Cuts = Cuts()) -> dict[str, np.ndarray]:
    """Cumulative step masks (each implies the previous), in order; the last is the selection."""
    x = np.asarray(x, dtype=np.float64)
    jets = np.asarray(x_mask, dtype=bool) & (x[..., LEPTON] < 0.5)
    tagged = jets & (x[..., BTAG] > 0.5)
    pt = x[..., PT]
    steps = {"all events": np.ones(len(x), bool)}
    steps[f">= {cuts.min_btags} b-tags"] = tagged.sum(1) >= cuts.min_btags
    steps[f">= {cuts.min_jets} jets"] = steps[f">= {cuts.min_btags} b-tags"] & (
        jets.sum(1) >= cuts.min_jets
    )
    steps[f"jet {cuts.min_jets} pT > {cuts.jet_min_pt:g} GeV"] = steps[
        f">= {cuts.min_jets} jets"
    ] & (_kth_largest(pt, jets, cuts.min_jets) > cuts.jet_min_pt)
    last = list(steps.values())[-1]
    steps[f"b-jet 2 pT > {cuts.bjet_min_pt:g} GeV"] = last & (
        _kth_largest(pt, tagged, 2) > cuts.bjet_min_pt
    )
    return steps


def n_eff(weight: np.ndarray) -> float:
    """(Σw)²/Σw²: the number of unweighted events with the same relative error."""
    sum_w2 = float(np.sum(weight**2))
    return float(np.sum(weight) ** 2 / sum_w2) if sum_w2 > 0 else 0.0


Tally = dict  # (sample, step) -> [events, Σw, Σw²], in order of first appearance


def tally(steps: dict[str, np.ndarray], sample: np.ndarray, weight: np.ndarray, totals: Tally):
    """Add one chunk's passing events, Σw and Σw² per sample and step to ``totals``."""
    for name in dict.fromkeys(sample.tolist()):
        mine = sample == name
        for step, mask in steps.items():
            w = weight[mine & mask]
            entry = totals.setdefault((name, step), [0, 0.0, 0.0])
            entry[0] += int(len(w))
            entry[1] += float(w.sum())
            entry[2] += float(np.sum(w * w))
    return totals


def cutflow_rows(totals: Tally) -> list[dict]:
    """Rows per sample and step; efficiencies relative to the sample's first step."""
    rows, first = [], {}
    for (name, step), (events, sum_w, sum_w2) in totals.items():
        total, total_w = first.setdefault(name, (events, sum_w))
        rows.append(
            {
                "sample": name,
                "step": step,
                "events": events,
                "weighted": sum_w,
                "efficiency": events / total if total else 0.0,
                "weighted_efficiency": sum_w / total_w if total_w else 0.0,
                "n_eff": sum_w**2 / sum_w2 if sum_w2 > 0 else 0.0,
            }
        )
    return rows


def cutflow(steps: dict[str, np.ndarray], sample: np.ndarray, weight: np.ndarray) -> list[dict]:
    """Rows per sample (in order of first appearance) and step, of one table."""
    return cutflow_rows(tally(steps, sample, weight, {}))


def select_dataset(dataset: str, cuts: Cuts) -> tuple[list[dict], pa.Table]:
    """The cutflow rows and the selected events' (sample, run, event, split) of a dataset,
    read shard by shard (memory bounded by one shard whatever the dataset's size)."""
    if not (Path(dataset) / "manifest.json").is_file():
        raise SelectionError(f"{dataset}/manifest.json does not exist: is it a converted dataset?")
    totals: Tally = {}
    selected = []
    for table in dataset_shards(dataset, ("x", "x_mask", "weight")):
        if table.num_rows == 0:
            continue
        x = to_numpy(table["x"])
        if not np.isfinite(x).all():
            raise SelectionError(f"{dataset}: non-finite values in x: reconvert the samples")
        steps = select(x, to_numpy(table["x_mask"]), cuts)
        sample = np.asarray(table["sample"].cast(pa.string()).to_pylist(), dtype=object)
        tally(steps, sample, table["weight"].to_numpy().astype(np.float64), totals)
        passed = list(steps.values())[-1]
        selected.append(table.select(["sample", "run", "event", "split"]).filter(pa.array(passed)))
    if not totals:
        raise SelectionError(f"{dataset} holds no events")
    events = pa.concat_tables(selected, promote_options="permissive").unify_dictionaries()
    return cutflow_rows(totals), events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The haa selection: cutflow and event list.")
    parser.add_argument("--dataset", required=True, help="converted haa dataset folder")
    parser.add_argument("--cutflow", required=True, type=Path, help="cutflow.csv to write")
    parser.add_argument("--events", required=True, type=Path, help="event list (Parquet)")
    parser.add_argument("--min-btags", type=int, default=Cuts.min_btags)
    parser.add_argument("--min-jets", type=int, default=Cuts.min_jets)
    parser.add_argument("--jet-min-pt", type=float, default=Cuts.jet_min_pt, help="GeV")
    parser.add_argument("--bjet-min-pt", type=float, default=Cuts.bjet_min_pt, help="GeV")
    args = parser.parse_args(argv)
    cuts = Cuts(args.min_btags, args.min_jets, args.jet_min_pt, args.bjet_min_pt)
    try:
        rows, events = select_dataset(args.dataset, cuts)
    except EvenetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    write_csv(args.cutflow, rows, CUTFLOW_COLUMNS)
    write_parquet(args.events, events)
    for row in rows:
        print(
            f"{row['sample']:<16} {row['step']:<24} {row['events']:>8} "
            f"{row['weighted']:>14.6g} N_eff {row['n_eff']:>10.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
