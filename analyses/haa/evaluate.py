"""Every haa method on the listed test events: weighted ROC figures, pairing purity and expected
limits per (method, m_a, size, seed) (issue 15; PHYSICS.md §4).

Test events: the selected events (analyses/haa/selection.py) of the dataset's test split.
Each event carries its expected yield at the luminosity for μ = BR(H → aa → bb̄bb̄) = 1:
signal L·σ(gg→H)·w/Σw, background L·σ_s·w/Σw (σ_s the sample's generated σ, its pTHat slice's
with the filter efficiency), Σw over the generated events of the sample in the test split. The
ROC of mass point m_a is its signal against the whole background, with these yields as weights;
1/ε_B at ε_S = 10/25/50% comes with the N_eff of the background passing that cut (a figure is
shown only where N_eff ≥ min_neff); spreads from bootstrap resamples of the test events.
Pairing: SPANet's evaluator definitions (evenet.stats.purity) against the truth a → bb slots.
Limits: 20 equal score bins, pyhf asymptotic CLs (evenet.stats.limits), Asimov background.

    python -m analyses.haa.evaluate --dataset D --events selected.parquet --methods JSON \
        --settings JSON --metrics metrics.csv --limits limits.csv --curves curves.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from evenet.errors import EvenetError
from evenet.io.predictions import dataset_shards, load, metadata, to_numpy
from evenet.io.results import write_csv, write_json
from evenet.io.training_events import listed_test_events, rows_of
from evenet.stats import limits, roc
from evenet.stats.purity import pair_purity

TOPOLOGY = "haa_4b"
EFFICIENCIES = (0.10, 0.25, 0.50)
PB_PER_FB = 1000.0
METRIC_COLUMNS = (
    "method",
    "m_a",
    "size",
    "seed",
    "auc",
    "auc_err",
    *(f"rej{int(e * 100)}{s}" for e in EFFICIENCIES for s in ("", "_err", "_neff")),
    "max_sic",
    "max_sic_err",
    "event_purity",
    "purity_1a",
    "purity_2a",
    "fraction_1a",
    "fraction_2a",
    "particle_purity",
    "n_signal_test",
    "n_background_test",
    "n_eff_background",
    "n_params",
)
LIMIT_COLUMNS = (
    "method",
    "m_a",
    "size",
    "seed",
    "minus2",
    "minus1",
    "median",
    "plus1",
    "plus2",
    "at_bound",
    "bin_edges",
)


class EvaluationError(EvenetError, ValueError):
    """The methods' outputs cannot be evaluated as asked."""


@dataclass(frozen=True)
class Settings:
    masses: dict = field(default_factory=dict)  # signal sample -> m_a (GeV)
    signal_class: str = "signal"
    luminosity_fb: float = 139.0
    sigma_ggh_pb: float = 48.58  # σ(gg → H), JHEP05(2016)058
    bootstrap: int = 200
    seed: int = 0
    bins: int = 20
    norm_uncertainty: float = 0.3
    max_rel_error: float = 0.3
    bound: float = 100.0
    min_neff: float = 25.0


@dataclass
class TestEvents:
    keys: pa.Table  # sample, run, event
    mass: np.ndarray  # m_a of signal events, 0 for background
    background: np.ndarray  # bool
    yields: np.ndarray  # expected events at the luminosity (signal for μ = 1)
    truth: np.ndarray  # (E, 2, 2) true a -> bb slots (-1: not reconstructed)


def load_test_events(dataset: str, events: str, settings: Settings) -> TestEvents:
    manifest_file = Path(dataset) / "manifest.json"
    if not manifest_file.is_file():
        raise EvaluationError(f"{manifest_file} does not exist: is {dataset} a converted dataset?")
    manifest = json.loads(manifest_file.read_text())
    classes = list(manifest.get("classes") or [])
    if settings.signal_class not in classes:
        raise EvaluationError(f"{dataset} has no class {settings.signal_class!r} ({classes})")
    class_of = {int(k): int(v) for k, v in (manifest.get("class_map") or {}).items()}
    signal = classes.index(settings.signal_class)
    table = listed_test_events(dataset, events, ["assignment"])
    if table.num_rows == 0:
        raise EvaluationError(f"no listed event of {events} is in the test split of {dataset}")
    sample = np.asarray(table["sample"].cast(pa.string()).to_pylist())
    label = np.array([class_of.get(int(p), -1) for p in table["process"].to_numpy()])
    weight = table["weight"].to_numpy().astype(np.float64)
    # Σw of each sample's test split, over every generated event (selected or not)
    test_sum_w: dict[str, float] = {}
    for shard in dataset_shards(dataset, ["weight"], ["test"]):
        names = np.asarray(shard["sample"].cast(pa.string()).to_pylist())
        weights = shard["weight"].to_numpy().astype(np.float64)
        for name in np.unique(names):
            test_sum_w[name] = test_sum_w.get(name, 0.0) + float(weights[names == name].sum())
    luminosity_pb = settings.luminosity_fb * PB_PER_FB
    yields = np.zeros(len(weight))
    mass = np.zeros(len(weight))
    for name in np.unique(sample):
        mine = sample == name
        total = test_sum_w[name]
        if (label[mine] == signal).any():
            if name not in settings.masses:
                raise EvaluationError(
                    f"signal sample '{name}' has no mass point: add it to analyses.haa.masses"
                )
            sigma = settings.sigma_ggh_pb
            mass[mine] = settings.masses[name]
        else:
            sigma = manifest["samples"][name].get("xsec_pb")
            if sigma is None:
                raise EvaluationError(f"background sample {name!r} has no cross section")
        yields[mine] = luminosity_pb * sigma * weight[mine] / total
    truth = to_numpy(table["assignment"])[:, :2, :2].astype(np.int64)
    return TestEvents(
        table.select(["sample", "run", "event"]),
        mass,
        (label >= 0) & (label != signal),
        yields,
        truth,
    )


def method_outputs(entry: dict, dataset: str, test: TestEvents, signal_class: str):
    """(score, pairs (E, 2, 2), n_params) of one method, aligned with the test events."""
    path = entry["path"]
    if entry["kind"] == "evenet":
        provenance = metadata(path)
        table = load(path, dataset, splits=["test"])
        signal = (provenance.get("classes") or []).index(signal_class)
        score = to_numpy(table["scores"])[:, signal]
        column = f"assignment.{TOPOLOGY}"
        pairs = (
            to_numpy(table[column])[:, :2, :2]
            if column in table.column_names
            else np.full((table.num_rows, 2, 2), -1)
        )
        n_params = (provenance.get("parameters") or {}).get("params_total")
    else:  # a scores file of analyses/haa/bdt.py (or the SPANet export's reader)
        table = pq.read_table(path)
        score = table["score"].to_numpy()
        pairs = to_numpy(table["pairs"]).reshape(-1, 2, 2)
        info = json.loads(Path(entry["info"]).read_text()) if entry.get("info") else {}
        n_params = info.get("n_params")
    rows = rows_of(table, test.keys)
    if (rows < 0).any():
        raise EvaluationError(
            f"{path} lacks {int((rows < 0).sum())} of the {len(rows)} listed test events"
        )
    return score[rows].astype(np.float64), pairs[rows].astype(np.int64), n_params


def _figures(labels, scores, weights) -> list[float]:
    values = [roc.auc(labels, scores, weights)]
    values += [roc.rejection(labels, scores, e, weights) for e in EFFICIENCIES]
    values.append(roc.max_sic(labels, scores, weights))
    return values


def _spread(draws: np.ndarray) -> float:
    finite = draws[np.isfinite(draws)]
    return float(np.std(finite, ddof=1)) if len(finite) > 1 else float("nan")


def mass_metrics(score, pairs, test: TestEvents, m_a: float, settings: Settings) -> dict:
    """The metrics row of one mass point (without method, size, seed)."""
    chosen = (test.mass == m_a) | test.background
    labels = test.mass[chosen] == m_a
    s, w = score[chosen], test.yields[chosen]
    names = ["auc", *(f"rej{int(e * 100)}" for e in EFFICIENCIES), "max_sic"]
    nominal = _figures(labels, s, w)

    def resampled(index):
        if labels[index].all() or not labels[index].any():
            return [np.nan] * len(names)
        return _figures(labels[index], s[index], w[index])

    rng = np.random.default_rng(settings.seed)
    draws = np.array(
        [resampled(rng.integers(0, len(s), len(s))) for _ in range(settings.bootstrap)]
    ).reshape(settings.bootstrap, len(names))
    row = {}
    for k, name in enumerate(names):
        row[name] = nominal[k]
        row[f"{name}_err"] = _spread(draws[:, k])
    for e in EFFICIENCIES:
        name = f"rej{int(e * 100)}"
        row[f"{name}_neff"] = roc.passing_background_neff(labels, s, e, w)
        if row[f"{name}_neff"] < settings.min_neff:  # too few background events behind it
            row[name] = row[f"{name}_err"] = float("nan")
    signal = test.mass == m_a
    purity = pair_purity(pairs[signal], test.truth[signal])
    background_w = test.yields[test.background]
    row.update(
        event_purity=purity["event_purity"],
        purity_1a=purity["1a"]["event_purity"],
        purity_2a=purity["2a"]["event_purity"],
        fraction_1a=purity["1a"]["fraction"],
        fraction_2a=purity["2a"]["fraction"],
        particle_purity=purity["particle_purity"],
        n_signal_test=int(signal.sum()),
        n_background_test=int(test.background.sum()),
        n_eff_background=float(background_w.sum() ** 2 / np.sum(background_w**2)),
    )
    return row


def histograms(score, test: TestEvents, m_a: float, bins: int):
    """Signal (μ = 1), background and background Σw² yields in ``bins`` equal score bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    clipped = np.clip(score, 0.0, 1.0)
    signal = test.mass == m_a
    s, _ = np.histogram(clipped[signal], edges, weights=test.yields[signal])
    b, _ = np.histogram(clipped[test.background], edges, weights=test.yields[test.background])
    w2, _ = np.histogram(clipped[test.background], edges, weights=test.yields[test.background] ** 2)
    return s, b, w2, edges


def evaluate(methods: list[dict], dataset: str, events: str, settings: Settings, log=print):
    """(metrics rows, limit rows, curves, statuses) of every method entry; a method whose
    info says it did not run (status other than ok) has only its status."""
    test = load_test_events(dataset, events, settings)
    if not test.background.any():
        raise EvaluationError("the listed test events hold no background")
    metrics_rows, limit_rows, curves, statuses = [], [], [], []
    for entry in methods:
        ident = {k: entry[k] for k in ("method", "size", "seed")}
        info = json.loads(Path(entry["info"]).read_text()) if entry.get("info") else {}
        status = {**ident, "status": info.get("status", "ok"), "reason": info.get("reason")}
        statuses.append(status)
        if status["status"] != "ok":  # e.g. SPANet not_run / failed: said in summary.md
            log(f"[evaluate] {ident}: {status['status']} ({status['reason']})")
            continue
        score, pairs, n_params = method_outputs(entry, dataset, test, settings.signal_class)
        for m_a in sorted(set(settings.masses.values())):
            if not (test.mass == m_a).any():
                log(f"[evaluate] {ident}: no m_a = {m_a} signal in the test events; skipped")
                continue
            row = {**ident, "m_a": m_a, **mass_metrics(score, pairs, test, m_a, settings)}
            row["n_params"] = n_params
            metrics_rows.append(row)
            s, b, w2, edges = histograms(score, test, m_a, settings.bins)
            try:
                limit = limits.expected_limit(
                    s,
                    b,
                    w2,
                    settings.norm_uncertainty,
                    settings.max_rel_error,
                    settings.bound,
                )
                values = asdict(limit)
                values["bin_edges"] = ";".join(f"{edges[i]:.2f}" for i in limit.edges)
                del values["edges"]
            except limits.LimitError as error:
                log(f"[evaluate] {ident} m_a = {m_a}: no limit ({error})")
                values = {"at_bound": None, "bin_edges": f"no limit: {error}"}
            limit_rows.append({**ident, "m_a": m_a, **values})
            chosen = (test.mass == m_a) | test.background
            eps_b, eps_s, _ = roc.curve(
                test.mass[chosen] == m_a, score[chosen], test.yields[chosen]
            )
            keep = np.unique(np.linspace(0, len(eps_b) - 1, min(len(eps_b), 400)).astype(int))
            curves.append(
                {
                    **ident,
                    "m_a": m_a,
                    "eps_s": eps_s[keep].tolist(),
                    "eps_b": eps_b[keep].tolist(),
                    "edges": edges.tolist(),
                    "signal": s.tolist(),
                    "background": b.tolist(),
                }
            )
            log(
                f"[evaluate] {entry['method']} size {entry['size']} seed {entry['seed']} "
                f"m_a {m_a}: AUC {row['auc']:.3f} ± {row['auc_err']:.3f}, 1/eps_B(25%) "
                f"{row['rej25']:.3g} (N_eff {row['rej25_neff']:.1f}), purity "
                f"{row['event_purity']:.3f}"
            )
    return metrics_rows, limit_rows, curves, statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Metrics and limits of every haa method.")
    parser.add_argument("--dataset", required=True, help="the haa dataset folder")
    parser.add_argument("--events", required=True, help="the selected-events list (Parquet)")
    parser.add_argument(
        "--methods", required=True, help="JSON list of {method, size, seed, kind, path[, info]}"
    )
    parser.add_argument("--settings", default="{}", help="JSON of Settings fields")
    parser.add_argument("--metrics", required=True, type=Path, help="metrics.csv to write")
    parser.add_argument("--limits", required=True, type=Path, help="limits.csv to write")
    parser.add_argument("--curves", required=True, type=Path, help="curves.json to write")
    args = parser.parse_args(argv)
    try:
        settings = Settings(**json.loads(args.settings))
        rows, limit_rows, curves, statuses = evaluate(
            json.loads(args.methods), args.dataset, args.events, settings
        )
    except (EvenetError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    write_csv(args.metrics, rows, METRIC_COLUMNS)
    write_csv(args.limits, limit_rows, LIMIT_COLUMNS)
    write_json(args.curves, {"settings": asdict(settings), "curves": curves, "methods": statuses})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
