"""Every output path of the `qe` analysis, on evenet.paths (results under
``{output_dir}/analyses/qe/``, logs and benchmarks under ``{output_dir}/logs/qe/`` and
``{output_dir}/benchmarks/qe/``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evenet import paths

NAME = "qe"


def results_dir(config: Mapping[str, Any]) -> Path:
    return paths.analysis_dir(config, NAME)


def dataset(config: Mapping[str, Any]) -> Path:
    """The dataset folder the selection reads (analyses.qe.dataset)."""
    return paths.dataset_dir(config, config["analyses"][NAME]["dataset"])


def cutflow(config: Mapping[str, Any]) -> Path:
    return results_dir(config) / "cutflow.csv"


def log(config: Mapping[str, Any], name: str) -> str:
    return paths.analysis_log_pattern(config, NAME, name)


def benchmark(config: Mapping[str, Any], name: str) -> str:
    return paths.analysis_benchmark_pattern(config, NAME, name)
