"""Pretrained vs scratch on the haa test split: classifier separation and a -> bb pairing.

For every fine-tuning of one run (mode x size x seed) on the test split, unweighted:

* ROC AUC of the signal score (``scores[:, signal]``) for signal against background,
* background rejection 1/eps_B at a signal efficiency of 25%,
* a -> bb pairing purity: among signal events whose four b quarks all match a reconstructed
  jet, the fraction whose predicted ``assignment.haa_4b`` pairs equal the true pairs (as
  unordered pairs of unordered jets: the a1 <-> a2 and b <-> b-bar symmetries).

Each number carries the spread of ``bootstrap`` resamples of the test events (with
replacement, one shared seed); the summary adds mean and standard deviation over seeds per
(mode, size). Written as JSON (every number) and a Markdown table (what a reviewer reads).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from evenet.errors import EvenetError
from evenet.io.predictions import load, metadata, to_numpy

TOPOLOGY = "haa_4b"
SIGNAL_EFFICIENCY = 0.25


class ComparisonError(EvenetError, ValueError):
    """The predictions cannot be compared as asked."""


def rejection_at(labels: np.ndarray, scores: np.ndarray, efficiency: float) -> float:
    """1/eps_B at the first ROC point reaching signal efficiency ``efficiency`` (inf when no
    background event passes)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    eps_b = fpr[np.searchsorted(tpr, efficiency)]
    return float(np.inf) if eps_b == 0 else float(1.0 / eps_b)


def pairs_correct(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(E,) bool: both predicted a -> bb pairs equal the true ones, up to the symmetries.
    predicted, truth: (E, 2, 2) jet slots of (a1, a2) x (b, b-bar)."""

    def canonical(pairs):
        inner = np.sort(pairs, axis=-1)  # b <-> b-bar
        key = inner[..., 0] * 100 + inner[..., 1]
        order = np.argsort(key, axis=-1)  # a1 <-> a2
        return np.take_along_axis(inner, order[..., None], axis=1)

    return np.all(canonical(predicted) == canonical(truth), axis=(1, 2))


def run_metrics(
    prediction: str | os.PathLike,
    dataset: str | os.PathLike,
    *,
    bootstrap: int = 200,
    seed: int = 0,
    signal_class: str = "signal",
) -> dict:
    """The metrics of one prediction file on its test split, each with its bootstrap spread."""
    provenance = metadata(prediction)
    classes = provenance.get("classes") or []
    if signal_class not in classes:
        raise ComparisonError(f"{prediction}: no class {signal_class!r} among {classes}")
    column = f"assignment.{TOPOLOGY}"
    table = load(prediction, dataset, columns=["assignment", "topology"], splits=["test"])
    if column not in table.column_names:
        raise ComparisonError(f"{prediction} has no {column}: predict with hypotheses [haa_4b]")
    class_of = {int(k): int(v) for k, v in (provenance.get("class_map") or {}).items()}
    signal = classes.index(signal_class)
    process = table["process"].to_numpy()
    labels = np.array([class_of.get(int(p), -1) == signal for p in process])
    scores = to_numpy(table["scores"])[:, signal]
    predicted = to_numpy(table[column])[:, :2, :2]
    truth = to_numpy(table["assignment"])[:, :2, :2]
    matched = labels & (truth >= 0).all(axis=(1, 2))
    correct = pairs_correct(predicted, truth)
    if labels.all() or not labels.any():
        raise ComparisonError(f"{prediction}: the test split needs signal and background events")

    def values(index):
        y, s = labels[index], scores[index]
        m = matched[index]
        return (
            roc_auc_score(y, s),
            rejection_at(y, s, SIGNAL_EFFICIENCY),
            correct[index][m].mean() if m.any() else np.nan,
        )

    nominal = values(np.arange(len(labels)))
    rng = np.random.default_rng(seed)
    draws = np.array([values(rng.integers(0, len(labels), len(labels))) for _ in range(bootstrap)])
    names = ("auc", "rejection_at_25", "pairing_purity")
    result = {
        name: {"value": float(nominal[k]), "bootstrap_std": float(np.nanstd(draws[:, k]))}
        for k, name in enumerate(names)
    }
    result["events"] = {
        "test": int(len(labels)),
        "signal": int(labels.sum()),
        "signal_all_b_matched": int(matched.sum()),
    }
    result["bootstrap"] = {"resamples": bootstrap, "seed": seed}
    return result


def summarise(runs: list[dict]) -> list[dict]:
    """Per (mode, size): mean and standard deviation over seeds of each metric."""
    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for run in runs:
        grouped[run["mode"], run["size"]].append(run)
    rows = []
    for (mode, size), members in sorted(grouped.items(), key=lambda item: _size_key(item[0])):
        row = {"mode": mode, "size": size, "seeds": sorted(int(m["seed"]) for m in members)}
        for name in ("auc", "rejection_at_25", "pairing_purity"):
            values = np.array([m["metrics"][name]["value"] for m in members], dtype=float)
            row[name] = {
                "mean": float(np.mean(values)),
                "seed_std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                "bootstrap_std": float(
                    np.mean([m["metrics"][name]["bootstrap_std"] for m in members])
                ),
            }
        rows.append(row)
    return rows


def _size_key(key: tuple) -> tuple:
    mode, size = key
    return (float("inf") if size == "all" else float(size), mode)


def markdown(summary: list[dict], runs: list[dict]) -> str:
    def cell(metric: dict, digits: int) -> str:
        spread = metric["seed_std"]
        seeds = "" if spread is None else f" ± {spread:.{digits}f}"
        return f"{metric['mean']:.{digits}f}{seeds} (boot ± {metric['bootstrap_std']:.{digits}f})"

    bootstrap = runs[0]["metrics"]["bootstrap"]["resamples"] if runs else 0
    lines = [
        "# haa: pretrained vs scratch (test split, unweighted)",
        "",
        "Mean ± standard deviation over seeds; (boot ± ...) is the mean bootstrap spread of one "
        f"run ({bootstrap} resamples of the test events). 1/eps_B at eps_S = 25%. Pairing "
        "purity: both a -> bb pairs right, among signal events with all four b matched.",
        "",
        "| size | mode | seeds | AUC | 1/eps_B @ 25% | a->bb pairing purity |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary:
        seeds = ",".join(str(s) for s in row["seeds"])
        lines.append(
            f"| {row['size']} | {row['mode']} | {seeds} | {cell(row['auc'], 3)} | "
            f"{cell(row['rejection_at_25'], 2)} | {cell(row['pairing_purity'], 3)} |"
        )
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="the dataset the runs predicted on")
    parser.add_argument("--runs", required=True, help="JSON list of {mode, size, seed, path}")
    parser.add_argument("--json", required=True, type=Path, help="output: every number")
    parser.add_argument("--markdown", required=True, type=Path, help="output: the table")
    parser.add_argument("--bootstrap", type=int, default=200, help="resamples (default 200)")
    args = parser.parse_args(argv)
    runs = json.loads(args.runs)
    for k, run in enumerate(runs, 1):
        print(f"[{k}/{len(runs)}] {run['mode']} size {run['size']} seed {run['seed']}", flush=True)
        try:
            run["metrics"] = run_metrics(run["path"], args.dataset, bootstrap=args.bootstrap)
        except EvenetError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    summary = summarise(runs)
    _write_atomic(args.json, json.dumps({"summary": summary, "runs": runs}, indent=2) + "\n")
    _write_atomic(args.markdown, markdown(summary, runs))
    print(markdown(summary, runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
