"""The mass (and weight) column of a bump hunt: a CSV or Parquet column, or a feature of a
point-cloud dataset folder (a `globals` or `globals_extra` name, e.g. M_leptons or M_ll)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from evenet.stats.bumphunt import BumpHuntError

_CONDITION = re.compile(r"^\s*(\w+)\s*(<=|>=|==|<|>)\s*([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*$")
_COMPARE = {
    "<=": np.less_equal,
    ">=": np.greater_equal,
    "==": np.equal,
    "<": np.less,
    ">": np.greater,
}


def parse_condition(text: str) -> tuple[str, str, float]:
    """'tightest_fpr<=0.1' -> ('tightest_fpr', '<=', 0.1); no expression is evaluated."""
    match = _CONDITION.match(text)
    if match is None:
        raise BumpHuntError(
            f"--where '{text}': expected COLUMN OP NUMBER with OP one of <= >= == < >"
        )
    return match[1], match[2], float(match[3])


def read_columns(path: str | Path, names: list[str]) -> dict[str, np.ndarray]:
    """The named columns of a CSV or Parquet file, or features of a dataset folder."""
    path = Path(path)
    if path.is_dir():
        return _dataset_columns(path, names)
    if not path.is_file():
        raise BumpHuntError(f"input {path} does not exist")
    suffixes = "".join(path.suffixes[-2:]).lower()
    if suffixes.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        available = pq.read_schema(path).names
        _require(path, names, available)
        table = pq.read_table(path, columns=names)
        return {n: table.column(n).to_numpy(zero_copy_only=False) for n in names}
    if suffixes.endswith((".csv", ".csv.gz")):
        import pandas as pd

        frame = pd.read_csv(path)
        _require(path, names, list(frame.columns))
        return {n: frame[n].to_numpy() for n in names}
    raise BumpHuntError(f"{path}: expected a .csv, .csv.gz or .parquet file or a dataset folder")


def _require(path, names, available) -> None:
    missing = [n for n in names if n not in available]
    if missing:
        raise BumpHuntError(f"{path} has no column(s) {missing} (it has {list(available)})")


def _dataset_columns(folder: Path, names: list[str]) -> dict[str, np.ndarray]:
    from evenet.io.columns import to_numpy
    from evenet.io.manifest import load_manifest
    from evenet.io.predictions import load
    from evenet.io.schema import GLOBAL_FEATURES

    manifest = load_manifest(folder)
    extra = list(manifest.get("globals_extra") or [])
    table = load(None, folder, ["globals"] + (["globals_extra"] if extra else []))
    out = {}
    for name in names:
        if name in GLOBAL_FEATURES:
            out[name] = to_numpy(table.column("globals"))[:, GLOBAL_FEATURES.index(name)]
        elif name in extra:
            out[name] = to_numpy(table.column("globals_extra"))[:, extra.index(name)]
        elif name in table.column_names and name in ("weight", "run", "event", "process"):
            out[name] = table.column(name).to_numpy()
        else:
            known = [*GLOBAL_FEATURES, *extra, "weight"]
            raise BumpHuntError(f"dataset {folder} has no feature '{name}' (known: {known})")
    return out


def bump_hunt_input(
    path: str | Path, column: str, weight: str | None = None, where: list[str] = ()
) -> tuple[np.ndarray, np.ndarray | None]:
    """(mass, weight or None) of the rows passing every ``where`` condition."""
    conditions = [parse_condition(text) for text in where]
    names = list(
        dict.fromkeys([column, *([weight] if weight else []), *(c[0] for c in conditions)])
    )
    columns = read_columns(path, names)
    keep = np.ones(len(columns[column]), bool)
    for name, op, value in conditions:
        keep &= _COMPARE[op](np.asarray(columns[name], dtype=np.float64), value)
    for name in (column, weight):
        if name is not None:
            bad = np.flatnonzero(~np.isfinite(np.asarray(columns[name], dtype=np.float64)[keep]))
            if len(bad):
                raise BumpHuntError(
                    f"{path}: column '{name}' has {len(bad)} NaN or infinite value(s) among the "
                    f"selected rows (first at selected row {bad[0]})"
                )
    mass = np.asarray(columns[column], dtype=np.float64)[keep]
    weights = None if weight is None else np.asarray(columns[weight], dtype=np.float64)[keep]
    if len(mass) == 0:
        raise BumpHuntError(f"{path}: no rows left after {list(where)}")
    return mass, weights
