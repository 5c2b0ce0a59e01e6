"""Plain tables (CSV or Parquet, one row per event) -> ``RecoEvents`` through a YAML column map.

A map (``config/table_formats/*.yaml``) has these keys, all others are an error:

    format: name                 # informational
    description: text            # informational
    file_type: csv | parquet     # optional; else from the suffix (.csv, .csv.gz, .parquet, .pq)
    event:                       # per-event fields: a column name or a constant
      run: Run                   #   default 0
      event: Event               #   default: the row index
      weight: 1.0                #   default 1
      met_pt: 0.0                #   default 0 (GeV)
      met_phi: 0.0               #   default 0
    defaults: {iso: 0.0}         # constants for object fields a slot does not name
    objects:                     # one entry per object slot, present in every row
      - kind: muon               #   muon | electron | jet
        pt: pt1                  #   kinematics: pt, eta, phi  OR  px, py, pz (GeV, rad)
        eta: eta1
        phi: phi1
        mass: 0.1056583755       #   mass (column or constant) OR E (mass from the 4-vector)
        charge: Q1
        iso: {column: iso1, divide_by_pt: true}   # absolute GeV -> relative
        ip3d: {column: dxy1, abs: true}           # cm

A field is a column name (string), a constant (number) or ``{column, scale, abs,
divide_by_pt}``: value = column * scale, then |value| if abs, then / the slot's pt if
divide_by_pt (absolute isolation -> relative). Fields a slot leaves out take ``defaults``,
else the built-in ones: mass = PDG mass for leptons, iso = 0 (counts as isolated), ip3d = 0,
btag = 0; lepton charge and jet mass have no built-in default (the map must give them).
Every slot is one object in every row: a format with a varying number of objects per event
is not supported yet. ``genpart`` is None and ``process`` is the argument (-1 for data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import vector
import yaml

from evenet.io.delphes import ELECTRON_MASS, MUON_MASS
from evenet.io.events import JET_FIELDS, LEPTON_FIELDS, ReaderError, RecoEvents
from evenet.yaml_io import parse_yaml

TOP_KEYS = {"format", "description", "file_type", "event", "defaults", "objects"}
EVENT_DEFAULTS = {"run": 0, "event": None, "weight": 1.0, "met_pt": 0.0, "met_phi": 0.0}
FIELD_KEYS = {"column", "scale", "abs", "divide_by_pt"}
KIND_FIELDS = {"muon": LEPTON_FIELDS, "electron": LEPTON_FIELDS, "jet": JET_FIELDS}
COLLECTION = {"muon": "muons", "electron": "electrons", "jet": "jets"}
BUILTIN_DEFAULTS = {
    "muon": {"mass": MUON_MASS, "iso": 0.0, "ip3d": 0.0},
    "electron": {"mass": ELECTRON_MASS, "iso": 0.0, "ip3d": 0.0},
    "jet": {"btag": 0.0},
}
KINEMATICS = (("pt", "eta", "phi"), ("px", "py", "pz"))
SUFFIXES = {".csv": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class Field:
    """One value of the map: a column (with unit conversions) or a constant."""

    column: str | None = None
    constant: float | None = None
    scale: float = 1.0
    abs: bool = False
    divide_by_pt: bool = False


@dataclass(frozen=True)
class Slot:
    kind: str
    fields: dict[str, Field]  # kinematic keys (pt/eta/phi or px/py/pz, E) + KIND_FIELDS


def read_table(
    path: str | Path, format_map: dict | str | Path, sample: str, process: int = -1
) -> RecoEvents:
    """Read a CSV/Parquet table with a column map (a dict or a YAML file, see module doc).

    Raises ReaderError for an invalid map (unknown key, missing field), a missing file or
    column (naming the column and the file), or non-numeric / NaN / inf values.
    """
    path = Path(path)
    spec = _load_map(format_map)
    name = spec.get("format", "<dict>") if isinstance(format_map, dict) else format_map
    where = f"table format {name}"
    event_fields, slots = _parse_map(spec, where)
    columns = sorted(
        {f.column for f in event_fields.values() if f and f.column}
        | {f.column for s in slots for f in s.fields.values() if f.column}
    )
    table = _read_columns(path, columns, spec.get("file_type"))
    n = len(next(iter(table.values()))) if table else _count_rows(path, spec.get("file_type"))

    collections: dict[str, list[dict[str, np.ndarray]]] = {k: [] for k in KIND_FIELDS}
    for i, slot in enumerate(slots):
        collections[slot.kind].append(_slot_values(slot, table, n, f"{path} slot {i}"))
    ev = {k: None if f is None else _value(f, table, n) for k, f in event_fields.items()}
    return RecoEvents(
        sample=sample,
        run=ev["run"].astype(np.int64),
        event=np.arange(n, dtype=np.int64) if ev["event"] is None else ev["event"].astype(np.int64),
        process=np.full(n, process, dtype=np.int32),
        weight=ev["weight"].astype(np.float32),
        jets=_ragged(collections["jet"], JET_FIELDS, n),
        muons=_ragged(collections["muon"], LEPTON_FIELDS, n),
        electrons=_ragged(collections["electron"], LEPTON_FIELDS, n),
        met_pt=ev["met_pt"].astype(np.float32),
        met_phi=ev["met_phi"].astype(np.float32),
    )


# --- the map -------------------------------------------------------------------------------


def _load_map(format_map: dict | str | Path) -> dict:
    if isinstance(format_map, dict):
        return format_map
    try:
        spec = parse_yaml(Path(format_map).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ReaderError(f"table format {format_map}: cannot be read ({err})") from err
    if not isinstance(spec, dict):
        raise ReaderError(f"table format {format_map}: not a mapping")
    return spec


def _unknown(given: Any, allowed: set[str], where: str) -> None:
    if not isinstance(given, dict):
        raise ReaderError(f"{where}: expected a mapping, got {given!r}")
    extra = sorted(set(given) - allowed)
    if extra:
        raise ReaderError(f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}")


def _field(value: Any, where: str) -> Field:
    if isinstance(value, bool):  # YAML true/false is no number here
        raise ReaderError(f"{where}: expected a column, a number or a mapping, got {value!r}")
    if isinstance(value, str):
        return Field(column=value)
    if isinstance(value, (int, float)):
        return Field(constant=float(value))
    _unknown(value, FIELD_KEYS, where)
    if not isinstance(value.get("column"), str):
        raise ReaderError(f"{where}: a mapping needs 'column: <name>'")
    return Field(
        column=value["column"],
        scale=float(value.get("scale", 1.0)),
        abs=bool(value.get("abs", False)),
        divide_by_pt=bool(value.get("divide_by_pt", False)),
    )


def _parse_map(spec: dict, where: str) -> tuple[dict[str, Field | None], list[Slot]]:
    _unknown(spec, TOP_KEYS, where)
    event = spec.get("event") or {}
    _unknown(event, set(EVENT_DEFAULTS), f"{where} event")
    event_fields = {
        k: _field(event[k], f"{where} event.{k}")
        if k in event
        else None
        if default is None
        else Field(constant=default)
        for k, default in EVENT_DEFAULTS.items()
    }
    defaults = spec.get("defaults") or {}
    _unknown(defaults, set(LEPTON_FIELDS) | set(JET_FIELDS), f"{where} defaults")
    for k, v in defaults.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ReaderError(f"{where} defaults.{k}: must be a number, got {v!r}")
    objects = spec.get("objects") or []
    if not isinstance(objects, list):
        raise ReaderError(f"{where} objects: expected a list of object slots")
    return event_fields, [
        _slot(obj, defaults, f"{where} objects[{i}]") for i, obj in enumerate(objects)
    ]


def _slot(obj: Any, defaults: dict, where: str) -> Slot:
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind not in KIND_FIELDS:
        raise ReaderError(f"{where}: 'kind' must be one of {sorted(KIND_FIELDS)}")
    physics = [f for f in KIND_FIELDS[kind] if f not in ("pt", "eta", "phi")]
    _unknown(obj, {"kind", "pt", "eta", "phi", "px", "py", "pz", "E", *physics}, where)
    kin = [keys for keys in KINEMATICS if any(k in obj for k in keys)]
    if len(kin) != 1 or not all(k in obj for k in kin[0]):
        raise ReaderError(f"{where}: give either pt, eta, phi or px, py, pz (all three)")
    if "E" in obj and "mass" in obj:
        raise ReaderError(f"{where}: give mass or E, not both")
    fields = {k: _field(obj[k], f"{where}.{k}") for k in (*kin[0], "E") if k in obj}
    for name in physics:
        if name in obj:
            fields[name] = _field(obj[name], f"{where}.{name}")
        elif name == "mass" and "E" in obj:
            continue
        elif name in defaults:
            fields[name] = Field(constant=float(defaults[name]))
        elif name in BUILTIN_DEFAULTS[kind]:
            fields[name] = Field(constant=BUILTIN_DEFAULTS[kind][name])
        else:
            raise ReaderError(f"{where}: no '{name}' (give a column, a constant or defaults)")
    return Slot(kind, fields)


# --- the file ------------------------------------------------------------------------------


def _file_type(path: Path, file_type: str | None) -> str:
    kind = file_type or SUFFIXES.get(path.suffix.lower())
    if kind not in ("csv", "parquet"):
        raise ReaderError(f"{path}: unknown table type (set file_type: csv | parquet)")
    return kind


def _read_columns(path: Path, columns: list[str], file_type: str | None) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ReaderError(f"{path}: no such file")
    kind = _file_type(path, file_type)
    try:
        if kind == "csv":
            header = list(pd.read_csv(path, nrows=0).columns)
        else:
            header = pq.read_schema(path).names
        missing = [c for c in columns if c not in header]
        if missing:
            raise ReaderError(f"{path}: no column(s) {missing}")
        if kind == "csv":
            frame = pd.read_csv(path, usecols=columns)
        else:
            frame = pd.read_parquet(path, columns=columns)
    except ReaderError:
        raise
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise ReaderError(f"{path}: cannot read as {kind} ({err})") from err
    return {c: _numeric(frame[c], c, path) for c in columns}


def _count_rows(path: Path, file_type: str | None) -> int:
    """Rows of a table when the map reads no column at all (only constants)."""
    if _file_type(path, file_type) == "csv":
        return len(pd.read_csv(path, usecols=[0]))
    return pq.read_metadata(path).num_rows


def _numeric(series: pd.Series, column: str, path: Path) -> np.ndarray:
    values = series.to_numpy()
    if values.dtype.kind in "iub":  # integers stay exact (64-bit event numbers)
        return values
    try:
        values = values.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise ReaderError(f"{path}: column {column!r} is not numeric") from err
    bad = ~np.isfinite(values)
    if bad.any():
        raise ReaderError(
            f"{path}: column {column!r} has NaN/inf in {int(bad.sum())} row(s), "
            f"first at row {int(np.argmax(bad))}"
        )
    return values


# --- values --------------------------------------------------------------------------------


def _value(field: Field, table: dict[str, np.ndarray], n: int, pt: np.ndarray | None = None):
    if field.column is None:
        return np.full(n, field.constant)
    values = table[field.column]
    if field.scale != 1.0:
        values = values * field.scale
    if field.abs:
        values = np.abs(values)
    if field.divide_by_pt:
        values = values / pt
    return values


def _slot_values(slot: Slot, table: dict[str, np.ndarray], n: int, where: str):
    """Per-event arrays of one slot's fields, kinematics converted to pt/eta/phi/mass."""
    raw = {k: _value(f, table, n) for k, f in slot.fields.items() if not f.divide_by_pt}
    if "px" in raw or "E" in raw:
        coords = {k: raw.pop(k) for k in ("pt", "eta", "phi", "px", "py", "pz", "E") if k in raw}
        four = vector.array(coords)
        if "E" in coords:
            # Rounded E and p can give a slightly negative m²: clip to a massless object.
            raw["mass"] = np.sqrt(np.clip(four.mass2, 0.0, None))
        raw.update(pt=four.pt, eta=four.eta, phi=four.phi)
    for k, f in slot.fields.items():
        if f.divide_by_pt:
            raw[k] = _value(f, table, n, pt=raw["pt"])
    for k in ("pt", "eta", "phi", "mass"):
        if not np.all(np.isfinite(raw[k])):
            raise ReaderError(f"{where}: {slot.kind} {k} is not finite (pt = 0?)")
    _check_ranges(raw, slot.kind, where)
    return {k: raw[k] for k in KIND_FIELDS[slot.kind]}


def _check_ranges(raw: dict[str, np.ndarray], kind: str, where: str) -> None:
    """Values the point-cloud builder relies on: pT > 0 (log1p, sorting), mass >= 0, and a
    lepton charge of -1 or +1 (the charge feature and the dimuon pairs)."""
    for name, ok, rule in (
        ("pt", raw["pt"] > 0, "must be > 0"),
        ("mass", raw["mass"] >= 0, "must be >= 0"),
        *(
            (("charge", np.isin(raw["charge"], (-1, 1)), "must be -1 or +1"),)
            if "charge" in raw
            else ()
        ),
    ):
        if not ok.all():
            row = int(np.flatnonzero(~ok)[0])
            raise ReaderError(
                f"{where}: {kind} {name} {rule}, row {row} has {raw[name][row].item()} "
                f"({int((~ok).sum())} row(s) in all)"
            )


def _ragged(slots: list[dict[str, np.ndarray]], fields: tuple[str, ...], n: int) -> ak.Array:
    """Fixed slots -> ragged records, one list per event (empty when the map has no slot)."""
    out = {}
    for name in fields:
        dtype = np.int32 if name == "charge" else np.float32
        if slots:
            grid = np.stack([s[name] for s in slots], axis=1)
            if name == "charge":
                grid = np.rint(grid)
        else:
            grid = np.zeros((n, 0))
        out[name] = ak.from_regular(ak.from_numpy(grid.astype(dtype)), axis=1)
    return ak.zip(out)
