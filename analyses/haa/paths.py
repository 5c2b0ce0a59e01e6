"""Every output path of the `haa` analysis, on evenet.paths (results under
``{output_dir}/analyses/haa/``, logs and benchmarks under ``{output_dir}/logs/haa/`` and
``{output_dir}/benchmarks/haa/``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evenet import paths

NAME = "haa"


def results_dir(config: Mapping[str, Any]) -> Path:
    return paths.analysis_dir(config, NAME)


SELECTED = "selected"  # name of the selected-events list (the contract's runs.<run>.events)


def dataset(config: Mapping[str, Any]) -> Path:
    """The dataset folder the selection reads (analyses.haa.dataset)."""
    return paths.dataset_dir(config, config["analyses"][NAME]["dataset"])


def cutflow(config: Mapping[str, Any]) -> Path:
    return results_dir(config) / "cutflow.csv"


def selected_events(config: Mapping[str, Any]) -> Path:
    return paths.analysis_events(config, NAME, SELECTED)


def predictions(config: Mapping[str, Any]) -> list[Path]:
    """The predictions of every configured fine-tuning of this analysis (its runs)."""
    return paths.analysis_predictions(config, NAME)


def run_predictions(config: Mapping[str, Any], run: str) -> list[dict[str, str]]:
    """(mode, size, seed, path) of every fine-tuning of one run."""
    return [
        {
            "mode": r["mode"],
            "size": r["size"],
            "seed": r["seed"],
            "path": str(paths.prediction(config, **r)),
        }
        for r in paths.finetune_runs(config, NAME)
        if r["run"] == run
    ]


def evaluated_runs(config: Mapping[str, Any]) -> list[str]:
    """The runs every method is compared on: those training on an event list (``events``)
    of a dataset with a `signal` class (config/ci.yaml's signal-only dataset has none)."""
    return [
        run
        for run, spec in config["analyses"][NAME]["runs"].items()
        if spec.get("events") and has_signal_class(config, spec["dataset"])
    ]


def largest_training(config: Mapping[str, Any]) -> dict[str, float]:
    """The largest numeric training size of the evaluated runs and its signal share (what the
    background plan must supply), 0 when every size is "all"."""
    largest, share = 0, 0.0
    for run in evaluated_runs(config):
        spec = config["analyses"][NAME]["runs"][run]
        sizes = [int(s) for s in spec["sizes"] if str(s) != "all"]
        if sizes and max(sizes) > largest:
            largest = max(sizes)
            signal = {"signal", *config["analyses"][NAME]["masses"]}  # the class or its samples
            stratify = spec["events"].get("stratify") or {}
            share = float(sum(v for k, v in stratify.items() if k in signal))
    return {"largest_size": largest, "signal_share": share}


def xgboost_dir(config: Mapping[str, Any], run="{run}", size="{size}", seed="{seed}") -> Path:
    return results_dir(config) / "xgboost" / str(run) / f"size{size}_seed{seed}"


def xgboost(config: Mapping[str, Any], **wildcards) -> dict[str, str]:
    """Test scores and model summary of one XGBoost training (wildcards by default)."""
    folder = xgboost_dir(config, **wildcards)
    return {"scores": str(folder / "scores.parquet"), "info": str(folder / "info.json")}


def methods(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every trained method of the evaluated runs: {method, run, size, seed, kind, path[, info]}
    (EveNet per mode from rule predict, XGBoost per size and seed)."""
    entries = []
    for run in evaluated_runs(config):
        spec = config["analyses"][NAME]["runs"][run]
        suffix = "" if run == "main" else f"_{run}"
        for r in paths.finetune_runs(config, NAME):
            if r["run"] == run:
                entries.append(
                    {
                        "method": f"evenet_{r['mode']}{suffix}",
                        "run": run,
                        "size": r["size"],
                        "seed": r["seed"],
                        "kind": "evenet",
                        "path": str(paths.prediction(config, **r)),
                    }
                )
        baselines = {"xgboost": xgboost}
        if config["analyses"][NAME]["spanet"]["enabled"]:
            baselines["spanet"] = spanet
        for name, files_of in baselines.items():
            for size in spec["sizes"]:
                for seed in spec["seeds"]:
                    files = files_of(config, run=run, size=size, seed=seed)
                    entries.append(
                        {
                            "method": f"{name}{suffix}",
                            "run": run,
                            "size": str(size),
                            "seed": str(seed),
                            "kind": "scores",
                            "path": files["scores"],
                            "info": files["info"],
                        }
                    )
    return entries


SPANET_REQUIREMENTS = str(Path(__file__).with_name("spanet-requirements.txt"))


def spanet_env(config: Mapping[str, Any]) -> Path:
    """SPANet's pinned virtual environment (built once per output_dir, rule haa_spanet_env)."""
    return paths.envs_dir(config) / "spanet"


def spanet_dir(config: Mapping[str, Any], run="{run}", size="{size}", seed="{seed}") -> Path:
    return results_dir(config) / "spanet" / str(run) / f"size{size}_seed{seed}"


def spanet(config: Mapping[str, Any], **wildcards) -> dict[str, str]:
    """Test scores and run summary of one SPANet training (wildcards by default)."""
    folder = spanet_dir(config, **wildcards)
    return {"scores": str(folder / "scores.parquet"), "info": str(folder / "info.json")}


def evaluation(config: Mapping[str, Any]) -> dict[str, str]:
    folder = results_dir(config)
    return {
        "metrics": str(folder / "metrics.csv"),
        "limits": str(folder / "limits.csv"),
        "curves": str(folder / "curves.json"),
    }


def summary(config: Mapping[str, Any]) -> str:
    return str(results_dir(config) / "summary.md")


def status(config: Mapping[str, Any]) -> str:
    """status.json of a result with no numbers (`insufficient_events`; analyses/haa/status.py)."""
    return str(results_dir(config) / "status.json")


PLOTS = ("roc", "rejection25_vs_size", "purity_vs_size", "scores", "limits_vs_ma")


def plots_dir(config: Mapping[str, Any]) -> Path:
    return results_dir(config) / "plots"


def has_signal_class(config: Mapping[str, Any], dataset: str) -> bool:
    """Whether the dataset's class expressions define a class named ``signal``."""
    classes = config["datasets"][dataset].get("classes") or []
    return any(str(c).split("=", 1)[0].strip() == "signal" for c in classes)
