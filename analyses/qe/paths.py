"""Every output path of the `qe` analysis, on evenet.paths (results under
``{output_dir}/analyses/qe/``, logs and benchmarks under ``{output_dir}/logs/qe/`` and
``{output_dir}/benchmarks/qe/``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evenet import paths

NAME = "qe"
UNFOLDING_TABLES = (
    "spin_matrix.csv",
    "closure.csv",
    "precision.csv",
    "bins.csv",
    "crosscheck.csv",
)
PLOTS = ("cos_phi", "spin_matrix", "precision_vs_size", "pairing_vs_size", "toy_pulls")


def results_dir(config: Mapping[str, Any]) -> Path:
    return paths.analysis_dir(config, NAME)


def dataset(config: Mapping[str, Any]) -> Path:
    """The dataset folder the selection reads (analyses.qe.dataset)."""
    return paths.dataset_dir(config, config["analyses"][NAME]["dataset"])


def predictions(config: Mapping[str, Any]) -> list[Path]:
    """The predictions of every configured fine-tuning of this analysis (its runs)."""
    return paths.analysis_predictions(config, NAME)


def evenet_runs(config: Mapping[str, Any]) -> list[dict[str, str]]:
    """(run, mode, size, seed, path) of every EveNet fine-tuning of the analysis."""
    runs = []
    for r in paths.finetune_runs(config, NAME):
        path = str(paths.prediction(config, **r))
        runs.append({k: r[k] for k in ("run", "mode", "size", "seed")} | {"path": path})
    return runs


def cutflow(config: Mapping[str, Any]) -> Path:
    return results_dir(config) / "cutflow.csv"


def parton(config: Mapping[str, Any]) -> Path:
    return results_dir(config) / "parton.csv"


def observables_dir(config: Mapping[str, Any]) -> Path:
    """Per-event observables of every method (Parquet, keyed by sample, run, event)."""
    return results_dir(config) / "observables"


def method_labels(config: Mapping[str, Any]) -> list[str]:
    """File names (without .parquet) of every reconstruction qe_reconstruct writes."""
    from analyses.qe.reconstruction import Method

    methods = [Method("analytic")]
    methods += [
        Method("evenet", r["run"], r["mode"], r["size"], r["seed"]) for r in evenet_runs(config)
    ]
    return [
        m.label
        for base in methods
        for m in (base, base.variant("truth_pairing"), base.variant("truth_nu"))
    ]


def reconstruction(config: Mapping[str, Any]) -> dict[str, Path | list[Path]]:
    folder = observables_dir(config)
    return {
        "pairing": results_dir(config) / "pairing.csv",
        "info": results_dir(config) / "reconstruction.json",
        "parton_observables": folder / "parton.parquet",
        "observables": [folder / f"{label}.parquet" for label in method_labels(config)],
    }


def method_unfolding(config: Mapping[str, Any], label: str = "{label}") -> dict[str, Path]:
    """One method's unfolded tables (``{label}`` left as a wildcard by default)."""
    from analyses.qe.measure import METHOD_FILES

    folder = results_dir(config) / "unfolding" / label
    return {name.replace(".", "_"): folder / name for name in METHOD_FILES}


def all_method_unfoldings(config: Mapping[str, Any]) -> list[Path]:
    return [p for label in method_labels(config) for p in method_unfolding(config, label).values()]


def unfolding(config: Mapping[str, Any]) -> dict[str, Path]:
    folder = results_dir(config)
    tables = {name.split(".")[0]: folder / name for name in UNFOLDING_TABLES}
    return {**tables, "toys": folder / "toys.parquet", "report": folder / "unfolding.json"}


def response_study(config: Mapping[str, Any]) -> Path:
    return results_dir(config) / "response_study.csv"


def summary(config: Mapping[str, Any]) -> Path:
    return results_dir(config) / "summary.md"


def plots(config: Mapping[str, Any]) -> list[Path]:
    folder = results_dir(config) / "plots"
    return [folder / f"{name}.{suffix}" for name in PLOTS for suffix in ("png", "pdf")]


def log(config: Mapping[str, Any], name: str) -> str:
    return paths.analysis_log_pattern(config, NAME, name)


def benchmark(config: Mapping[str, Any], step: str, name: str | None = None) -> str:
    return paths.analysis_benchmark_pattern(config, NAME, step, name)
