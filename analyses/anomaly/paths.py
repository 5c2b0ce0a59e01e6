"""Every output path of the `anomaly` analysis, on evenet.paths (results under
``{output_dir}/analyses/anomaly/``, logs and benchmarks under ``{output_dir}/logs/anomaly/``
and ``{output_dir}/benchmarks/anomaly/``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evenet import paths

NAME = "anomaly"


def results_dir(config: Mapping[str, Any]) -> Path:
    return paths.analysis_dir(config, NAME)


def mass_only(config: Mapping[str, Any], name: str = "{name}") -> dict[str, Path]:
    """The mass-only bump hunt of one input (``{name}``: a rule pattern): its JSON result and
    the spectrum with the fit."""
    folder = results_dir(config) / "mass_only" / name
    return {
        "result": folder / "bumphunt_mass_only.json",
        "plot": folder / "spectrum.png",
    }


def all_mass_only(config: Mapping[str, Any]) -> list[Path]:
    names = config["analyses"][NAME]["mass_only"]
    return [mass_only(config, name)["result"] for name in names]
