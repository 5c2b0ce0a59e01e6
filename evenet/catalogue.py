"""The process catalogue (config/processes.yaml): every process's fixed integer id, name,
category and Pythia settings. Global identity: conversion writes the ids, and every manifest
records the id -> name and category map (``manifest_record``), so training and analyses read
them from their dataset, never from the checkout."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from evenet.errors import EvenetError
from evenet.generation.filters import BHadronFilter, DimuonFilter, b_hadron_filter, dimuon_filter
from evenet.yaml_io import parse_yaml

DEFAULT_CATALOGUE = Path(__file__).resolve().parents[1] / "config" / "processes.yaml"
EXTERNAL_LHE = "external_lhe"
_KEYS = {
    "id",
    "description",
    "category",
    "settings",
    "spin_correlation",
    "truth_pdg_ids",
    "forced_decays",
    "b_hadron_filter",
    "dimuon_filter",
}


class CatalogueError(EvenetError, ValueError):
    """The catalogue file is malformed or a process name is unknown."""


@dataclass(frozen=True)
class Process:
    name: str
    id: int
    description: str
    category: str
    settings: tuple[str, ...]
    spin_correlation: bool = False
    truth_pdg_ids: tuple[int, ...] = field(default_factory=tuple)
    forced_decays: tuple[int, ...] = field(default_factory=tuple)
    b_hadron_filter: BHadronFilter | None = None  # generator-level filter (generation/filters.py)
    dimuon_filter: DimuonFilter | None = None  # generator-level filter (generation/filters.py)


def load_catalogue(path: str | Path = DEFAULT_CATALOGUE) -> dict[str, Process]:
    """Read and check the catalogue: known keys only, integer ids, no id used twice."""
    path = Path(path)
    try:
        raw = parse_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise CatalogueError(f"cannot read process catalogue {path}: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("processes"), dict):
        raise CatalogueError(f"{path}: expected a top-level 'processes:' mapping")
    catalogue: dict[str, Process] = {}
    seen_ids: dict[int, str] = {}
    for name, entry in raw["processes"].items():
        if not isinstance(entry, dict):
            raise CatalogueError(f"{path}: process '{name}' must be a mapping")
        unknown = set(entry) - _KEYS
        if unknown:
            raise CatalogueError(
                f"{path}: process '{name}' has unknown key(s) {sorted(unknown)}; "
                f"allowed: {sorted(_KEYS)}"
            )
        pid = entry.get("id")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid < 0:
            raise CatalogueError(f"{path}: process '{name}' needs a non-negative integer 'id'")
        if pid in seen_ids:
            raise CatalogueError(f"{path}: processes '{seen_ids[pid]}' and '{name}' share id {pid}")
        seen_ids[pid] = name
        settings = entry.get("settings") or []
        if not all(isinstance(s, str) for s in settings):
            raise CatalogueError(f"{path}: process '{name}': settings must be strings")
        catalogue[name] = Process(
            name=name,
            id=pid,
            description=str(entry.get("description", "")),
            category=str(entry.get("category", "")),
            settings=tuple(settings),
            spin_correlation=bool(entry.get("spin_correlation", False)),
            truth_pdg_ids=tuple(int(i) for i in entry.get("truth_pdg_ids") or ()),
            forced_decays=tuple(abs(int(i)) for i in entry.get("forced_decays") or ()),
            b_hadron_filter=b_hadron_filter(entry.get("b_hadron_filter"), f"{path}: '{name}'"),
            dimuon_filter=dimuon_filter(entry.get("dimuon_filter"), f"{path}: '{name}'"),
        )
    return catalogue


def process_from_dict(values: dict) -> Process:
    """A Process from its plain values (``dataclasses.asdict``), e.g. a job's --options."""
    sequences = {"settings": str, "truth_pdg_ids": int, "forced_decays": int}
    fields = {
        k: tuple(sequences[k](x) for x in v) if k in sequences else v for k, v in values.items()
    }
    fields["b_hadron_filter"] = b_hadron_filter(fields.get("b_hadron_filter"), "process options")
    fields["dimuon_filter"] = dimuon_filter(fields.get("dimuon_filter"), "process options")
    return Process(**fields)


def get_process(name: str, path: str | Path = DEFAULT_CATALOGUE) -> Process:
    catalogue = load_catalogue(path)
    if name not in catalogue:
        raise CatalogueError(
            f"unknown process '{name}'; known processes: {', '.join(sorted(catalogue))} "
            f"(add one to {path})"
        )
    return catalogue[name]


def manifest_record(catalogue: dict[str, Process]) -> dict[str, dict[str, str]]:
    """What a manifest records of the catalogue: {"<id>": {"name", "category"}}."""
    return {
        str(p.id): {"name": name, "category": p.category}
        for name, p in sorted(catalogue.items(), key=lambda item: item[1].id)
    }
