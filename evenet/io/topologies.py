"""config/topologies.yaml: decay topologies and the global target shapes (caps R, D, P)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from evenet.errors import EvenetError
from evenet.yaml_io import parse_yaml

DEFAULT_TOPOLOGIES = Path(__file__).resolve().parents[2] / "config" / "topologies.yaml"
_TOPOLOGY_KEYS = {
    "id",
    "processes",
    "particles",
    "resonances",
    "types",
    "symmetries",
    "neutrinos",
    "partons",
}
_SELECTOR_KEYS = (
    {"ids", "mothers", "occurrence"},
    {"ancestor_of", "up"},
    {"child_of", "ids", "occurrence"},
)


_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*")


class TopologyError(EvenetError, ValueError):
    """topologies.yaml is malformed or names something unknown."""


@dataclass(frozen=True)
class Topology:
    name: str
    id: int
    processes: tuple[str, ...]
    particles: dict  # name -> selector mapping (see the file's header)
    resonances: dict  # name -> list of daughter names, in assignment-row order
    types: dict  # resonance name -> its type (segmentation class), in row order
    symmetries: dict
    neutrinos: tuple[str, ...]
    partons: tuple[str, ...]


@dataclass(frozen=True)
class Topologies:
    resonances: int  # R
    daughters: int  # D
    partons: int  # P
    topologies: tuple[Topology, ...]

    def for_process(self, process: str) -> list[Topology]:
        return [t for t in self.topologies if process in t.processes]

    def summary(self) -> list[dict]:
        """What a manifest records: ids, names and the physics definition."""
        return [
            {
                "id": t.id,
                "name": t.name,
                "resonances": t.resonances,
                "types": t.types,
                "symmetries": t.symmetries,
                "neutrinos": list(t.neutrinos),
                "partons": list(t.partons),
                "processes": list(t.processes),
            }
            for t in self.topologies
        ]


def resonance_types(topologies: list[dict]) -> list[str]:
    """The segmentation classes of a list of topology records (manifest or checkpoint): the
    sorted distinct resonance types, so the same topologies always give the same classes."""
    missing = [t["name"] for t in topologies if t.get("resonances") and "types" not in t]
    if missing:
        raise TopologyError(
            f"topologies {missing} have no resonance types: they come from a dataset or "
            "checkpoint older than schema version 3; reconvert and retrain"
        )
    return sorted({kind for t in topologies for kind in (t.get("types") or {}).values()})


def load_topologies(path: str | Path = DEFAULT_TOPOLOGIES) -> Topologies:
    path = Path(path)
    try:
        raw = parse_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise TopologyError(f"cannot read {path}: {error}") from None
    caps = raw.get("caps") or {}
    try:
        r, d, p = (int(caps[k]) for k in ("resonances", "daughters", "partons"))
    except (KeyError, TypeError, ValueError):
        raise TopologyError(f"{path}: caps needs integer resonances, daughters, partons") from None
    topologies, ids = [], {}
    for name, entry in (raw.get("topologies") or {}).items():
        where = f"{path}: topology '{name}'"
        unknown = set(entry) - _TOPOLOGY_KEYS
        if unknown:
            raise TopologyError(f"{where} has unknown key(s) {sorted(unknown)}")
        tid = entry.get("id")
        if not isinstance(tid, int) or tid in ids:
            raise TopologyError(f"{where} needs a unique integer id (got {tid!r})")
        ids[tid] = name
        particles = entry.get("particles") or {}
        for pname, selector in particles.items():
            if not any(set(selector) <= keys and set(selector) & keys for keys in _SELECTOR_KEYS):
                raise TopologyError(
                    f"{where}: particle '{pname}' has an unknown selector {selector}"
                )
            ref = selector.get("ancestor_of") or selector.get("child_of")
            if ref is not None and ref not in particles:
                raise TopologyError(f"{where}: particle '{pname}' refers to unknown '{ref}'")
        resonances = entry.get("resonances") or {}
        named = [
            *resonances,
            *(x for ds in resonances.values() for x in ds),
            *(entry.get("neutrinos") or []),
            *(entry.get("partons") or []),
        ]
        missing = sorted({x for x in named if x not in particles})
        if missing:
            raise TopologyError(f"{where} uses undefined particle(s) {missing}")
        types = entry.get("types") or {}
        if set(types) != set(resonances) or not all(
            isinstance(v, str) and _TYPE_NAME.fullmatch(v) for v in types.values()
        ):
            raise TopologyError(
                f"{where} needs `types` naming the type (t, W, Z, H, a, ...) of each of its "
                f"resonances {list(resonances)}, got {types}"
            )
        if len(resonances) > r or any(len(ds) > d for ds in resonances.values()):
            raise TopologyError(f"{where} exceeds the caps R={r}, D={d}")
        if len(entry.get("partons") or []) > p or len(entry.get("neutrinos") or []) > 2:
            raise TopologyError(f"{where} exceeds the caps P={p} partons / 2 neutrinos")
        topologies.append(
            Topology(
                name=name,
                id=tid,
                processes=tuple(entry.get("processes") or ()),
                particles=particles,
                resonances=resonances,
                types={name: types[name] for name in resonances},
                symmetries=entry.get("symmetries") or {"daughters": [], "resonances": []},
                neutrinos=tuple(entry.get("neutrinos") or ()),
                partons=tuple(entry.get("partons") or ()),
            )
        )
    return Topologies(r, d, p, tuple(topologies))
