"""The cuts a run makes for its scale: every setting in which its configuration differs from
the full-scale one (config/config.yaml with the override files of ``report.full_scale``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evenet.config import default_config_path, load_config, validate
from evenet.errors import EvenetError
from evenet.report.provenance import REPOSITORY

IGNORED = ("output_dir", "report")  # where results go and the report's own settings
ABSENT = "(absent)"


def flatten(values: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> leaf value; lists are leaves (a list of sizes or seeds is one setting)."""
    if isinstance(values, Mapping) and values:
        flat: dict[str, Any] = {}
        for key, value in values.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: values}


def full_scale_config(files: list[str], repository: Path = REPOSITORY) -> dict:
    paths = [default_config_path(), *(repository / f for f in files)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise EvenetError(
            f"report.full_scale names missing config files: {', '.join(missing)} (paths are "
            "relative to the repository)"
        )
    return validate(load_config(paths))


def _shown(value: Any, limit: int = 90) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def differences(config: Mapping[str, Any], full: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(key, this run's value, the full-scale value) for every setting that differs."""
    ours = {k: v for k, v in flatten(config).items() if k.split(".")[0] not in IGNORED}
    theirs = {k: v for k, v in flatten(full).items() if k.split(".")[0] not in IGNORED}
    rows = []
    for key in sorted(set(ours) | set(theirs)):
        mine, other = ours.get(key, ABSENT), theirs.get(key, ABSENT)
        if mine != other:
            rows.append((key, _shown(mine), _shown(other)))
    return rows
