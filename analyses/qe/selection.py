"""The dileptonic tt̄ selection of the qe analysis and its cutflow (issue 14, PHYSICS.md §3).

Reco level, on the converted objects ``x`` (E, pT, η, φ, isBJet, isLepton, charge; leptons
first, then jets, each by descending pT; the conversion already keeps isolated leptons above
10 GeV): exactly two leptons of opposite charge, at least two jets, at least one b-tag. The b
candidates are the two leading b-tagged jets, or the tagged jet and the leading untagged one.
There is no Z veto: the sample is tt̄ → ℓℓ alone (no Drell–Yan background is modelled), and
a veto would only remove same-flavour tt̄ events.

Truth level: the threshold region is parton m_tt < ``mtt_max`` (the two tops of the
`ttbar_dilepton` topology, the first two `partons`); every selected event enters the unfolding
with its reconstructed m_tt, so the region is reported as the last cutflow line, not applied.

``python -m analyses.qe.selection --dataset D --output cutflow.csv`` writes the cutflow,
unweighted and weighted (the dataset's ``weight``), per step.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vector

from evenet.errors import EvenetError
from evenet.io.predictions import load, to_numpy
from evenet.io.results import write_csv

E, PT, ETA, PHI, BTAG, LEPTON, CHARGE = range(7)
TOPOLOGY = "ttbar_dilepton"


class SelectionError(EvenetError, ValueError):
    """The dataset cannot be selected as asked."""


@dataclass(frozen=True)
class Selected:
    """Per event: the cutflow masks (cumulative, in order) and the chosen objects' slots."""

    steps: dict[str, np.ndarray]  # name -> (n,) bool, each implies the previous
    lepton_plus: np.ndarray  # (n,) slot of ℓ⁺ (-1 where not selected)
    lepton_minus: np.ndarray
    b_candidates: np.ndarray  # (n, 2) slots of the two b candidates, leading first

    @property
    def passed(self) -> np.ndarray:
        return list(self.steps.values())[-1]


def select(x: np.ndarray, x_mask: np.ndarray) -> Selected:
    """The reco-level selection of (n, 18, 7) objects with their (n, 18) mask."""
    x = np.asarray(x, dtype=np.float64)
    real = np.asarray(x_mask, dtype=bool)
    lepton = real & (x[..., LEPTON] > 0.5)
    jet = real & ~lepton
    tagged = jet & (x[..., BTAG] > 0.5)
    n_lep, n_jet, n_tag = lepton.sum(1), jet.sum(1), tagged.sum(1)
    slots = np.arange(x.shape[1])
    big = x.shape[1]
    first_lep = np.where(lepton, slots, big).min(1)
    second_lep = np.where(lepton & (slots != first_lep[:, None]), slots, big).min(1)
    rows = np.arange(len(x))
    charge = x[..., CHARGE]
    q1 = charge[rows, np.minimum(first_lep, big - 1)]
    q2 = charge[rows, np.minimum(second_lep, big - 1)]
    steps = {"all events": np.ones(len(x), bool)}
    steps["exactly 2 leptons"] = n_lep == 2
    steps["opposite charge"] = steps["exactly 2 leptons"] & (q1 * q2 < 0)
    steps[">= 2 jets"] = steps["opposite charge"] & (n_jet >= 2)
    steps[">= 1 b-tag"] = steps[">= 2 jets"] & (n_tag >= 1)
    passed = steps[">= 1 b-tag"]
    # Objects are in descending pT within leptons and within jets: the first slots win.
    first_tag = np.where(tagged, slots, big).min(1)
    second_tag = np.where(tagged & (slots != first_tag[:, None]), slots, big).min(1)
    first_untagged = np.where(jet & ~tagged, slots, big).min(1)
    partner = np.where(second_tag < big, second_tag, first_untagged)
    pair = np.sort(np.stack([first_tag, partner], 1), axis=1)  # leading (lower slot) first
    plus = np.where(q1 > 0, first_lep, second_lep)
    minus = np.where(q1 > 0, second_lep, first_lep)
    none = -np.ones(len(x), dtype=np.int64)
    return Selected(
        steps,
        np.where(passed, plus, none),
        np.where(passed, minus, none),
        np.where(passed[:, None], pair, -1),
    )


def parton_mtt(partons: np.ndarray, partons_mask: np.ndarray) -> np.ndarray:
    """m_tt (GeV) of the two tops (the first two `partons`: pT, η, φ, m); NaN without them."""
    tops = [
        vector.array(
            {
                "pt": partons[:, k, 0],
                "eta": partons[:, k, 1],
                "phi": partons[:, k, 2],
                "mass": partons[:, k, 3],
            }
        )
        for k in (0, 1)
    ]
    mtt = np.asarray((tops[0] + tops[1]).mass, dtype=np.float64)
    return np.where(partons_mask[:, 0] & partons_mask[:, 1], mtt, np.nan)


def cutflow(
    selected: Selected, weight: np.ndarray, in_region: np.ndarray, mtt_max: float
) -> list[dict]:
    """Rows (step, events, weighted, efficiency vs all) for each step, then the region."""
    weight = np.asarray(weight, dtype=np.float64)
    total, total_w = len(weight), weight.sum()
    rows = []
    masks = dict(selected.steps)
    masks[f"parton m_tt < {mtt_max:g} GeV (region)"] = selected.passed & in_region
    for name, mask in masks.items():
        rows.append(
            {
                "step": name,
                "events": int(mask.sum()),
                "weighted": float(weight[mask].sum()),
                "efficiency": float(mask.sum() / total) if total else 0.0,
                "weighted_efficiency": float(weight[mask].sum() / total_w) if total_w else 0.0,
            }
        )
    return rows


def dataset_cutflow(dataset: str | os.PathLike, mtt_max: float = 400.0) -> list[dict]:
    """The cutflow of every event of a converted dataset (all splits)."""
    ids = [topology_entry(dataset)["id"]]
    columns = ["x", "x_mask", "partons", "partons_mask", "topology", "weight"]
    table = load(None, dataset, columns=columns)
    weights = table["weight"].to_numpy()
    is_ttbar = table["topology"].to_numpy() == ids[0]
    if not is_ttbar.any():
        raise SelectionError(
            f"no event of {dataset} has the {TOPOLOGY} topology: analyses.qe.dataset must hold "
            "dileptonic tt̄ (the sample ttbar_dilepton)"
        )
    x, partons = to_numpy(table["x"]), to_numpy(table["partons"])
    partons_mask = to_numpy(table["partons_mask"])
    check_finite(x, partons, partons_mask, dataset)
    selected = select(x, to_numpy(table["x_mask"]))
    mtt = parton_mtt(partons, partons_mask)
    in_region = is_ttbar & (mtt < mtt_max)
    return cutflow(selected, weights, in_region, mtt_max)


def topology_entry(dataset: str | os.PathLike) -> dict:
    """The manifest's `ttbar_dilepton` entry (id, resonances, partons)."""
    manifest_file = Path(dataset) / "manifest.json"
    if not manifest_file.is_file():
        raise SelectionError(f"{manifest_file} does not exist: is {dataset} a converted dataset?")
    manifest = json.loads(manifest_file.read_text())
    if not manifest.get("has_targets"):
        raise SelectionError(f"{dataset} has no truth targets: the qe analysis needs `partons`")
    entries = [t for t in manifest.get("topologies", []) if t["name"] == TOPOLOGY]
    if not entries:
        raise SelectionError(f"{dataset}: no topology {TOPOLOGY!r} in its manifest")
    entry = entries[0]
    missing = {"t1", "t2", "l1", "l2"} - set(entry["partons"])
    if missing or list(entry["resonances"]) != ["t1", "t2"]:
        raise SelectionError(
            f"{dataset}: the {TOPOLOGY} topology needs resonances [t1, t2] and partons t1, t2, "
            f"l1, l2 (config/topologies.yaml); missing {sorted(missing)}"
        )
    return entry


def check_finite(x, partons, partons_mask, where) -> None:
    """Refuse NaN or inf in the objects or in the existing partons (they would drop events
    from the region silently: NaN < 400 is False)."""
    bad_x = ~np.isfinite(x).all(axis=(1, 2))
    bad_partons = ~np.isfinite(np.where(partons_mask[..., None], partons, 0.0)).all(axis=(1, 2))
    if bad_x.any() or bad_partons.any():
        raise SelectionError(
            f"{where}: non-finite values in x of {int(bad_x.sum())} and in partons of "
            f"{int(bad_partons.sum())} events: reconvert the samples"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The qe selection's cutflow of a dataset.")
    parser.add_argument("--dataset", required=True, help="converted dataset folder")
    parser.add_argument("--output", required=True, type=Path, help="cutflow.csv to write")
    parser.add_argument("--mtt-max", type=float, default=400.0, help="region edge, GeV")
    args = parser.parse_args(argv)
    try:
        rows = dataset_cutflow(args.dataset, args.mtt_max)
    except EvenetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    write_csv(args.output, rows, list(rows[0]))
    for row in rows:
        print(f"{row['step']:<36} {row['events']:>9} {row['weighted']:>12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
