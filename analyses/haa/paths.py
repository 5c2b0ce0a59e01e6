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


def comparison(config: Mapping[str, Any], run: str = "{run}") -> dict[str, str]:
    """Pretrained vs scratch table of one run (``{run}`` left as a wildcard by default)."""
    folder = results_dir(config) / "pretraining"
    return {"json": str(folder / f"{run}.json"), "markdown": str(folder / f"{run}.md")}


def comparisons(config: Mapping[str, Any]) -> list[str]:
    """The comparison tables of every run whose dataset has a `signal` class (a dataset of
    signal alone, as config/ci.yaml's, has no background to compare against)."""
    return [
        path
        for run, spec in config["analyses"][NAME]["runs"].items()
        if has_signal_class(config, spec["dataset"])
        for path in comparison(config, run).values()
    ]


def has_signal_class(config: Mapping[str, Any], dataset: str) -> bool:
    """Whether the dataset's class expressions define a class named ``signal``."""
    classes = config["datasets"][dataset].get("classes") or []
    return any(str(c).split("=", 1)[0].strip() == "signal" for c in classes)
