"""Where a result came from: code version, config fingerprints and seeds, package versions,
pinned side environments (SPANet) and the devices that trained."""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from evenet.config import fingerprint

REPOSITORY = Path(__file__).resolve().parents[2]
# The distributions whose versions shape the results (xgboost ships as xgboost-cpu here).
PACKAGES = (
    "evenet-pipeline",
    "torch",
    "numpy",
    "awkward",
    "uproot",
    "pythia8mc",
    "fastjet",
    "snakemake",
    "pyhf",
    "xgboost-cpu",
    "xgboost",
    "scikit-learn",
    "zuko",
    "coffea",
    "iminuit",
    "pyunfold",
    "matplotlib",
    "mplhep",
)


def code_version(repository: Path = REPOSITORY) -> str:
    """``git describe --always --dirty --tags`` of the checkout the workflow runs from."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repository), "describe", "--always", "--dirty", "--tags"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown (git failed: {error})"
    if done.returncode != 0:
        return f"unknown (not a git checkout: {done.stderr.strip() or done.returncode})"
    return done.stdout.strip()


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each distribution; absent ones are left out."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine() -> str:
    """The machine that wrote the report (training devices are listed per run)."""
    return f"{platform.node()}: {platform.system()} {platform.machine()}, Python " + (
        platform.python_version()
    )


def config_fingerprints(config: Mapping[str, Any]) -> dict[str, str]:
    """A short hash per config section, and per analysis section: two reports whose
    fingerprints agree for a section ran that section with the same settings."""
    rows = {key: fingerprint(value) for key, value in config.items() if key != "analyses"}
    for name, section in (config.get("analyses") or {}).items():
        rows[f"analyses.{name}"] = fingerprint(section)
    return rows


def seeds(config: Any, prefix: str = "") -> dict[str, Any]:
    """Every ``seed``/``seeds`` key of the config, by its dotted path."""
    found: dict[str, Any] = {}
    if isinstance(config, Mapping):
        for key, value in config.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key in ("seed", "seeds") and not isinstance(value, Mapping):
                found[path] = value
            else:
                found.update(seeds(value, path))
    return found


def environments(folder: Path) -> list[dict[str, Any]]:
    """Side environments the workflow built (``{out}/envs/<name>/status.json``): name, status,
    the reason when not built, and the versions of the packages named like the environment
    and of torch (SPANet: spanet==…, pytorch-lightning==…, torch==…)."""
    rows = []
    for status_file in sorted(folder.glob("*/status.json")) if folder.is_dir() else []:
        name = status_file.parent.name
        try:
            status = json.loads(status_file.read_text())
        except (OSError, json.JSONDecodeError) as error:
            rows.append({"name": name, "status": "unreadable", "reason": str(error)})
            continue
        wanted = (name, "torch", "lightning")
        packages = [p for p in status.get("packages", []) if any(w in p.lower() for w in wanted)]
        rows.append(
            {
                "name": name,
                "status": status.get("status", "?"),
                "reason": status.get("reason"),
                "packages": packages,
            }
        )
    return rows
