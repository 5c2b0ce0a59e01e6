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


def predictions(config: Mapping[str, Any]) -> list[Path]:
    """The predictions of every configured fine-tuning of this analysis (its runs)."""
    return paths.analysis_predictions(config, NAME)
