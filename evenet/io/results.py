"""Atomic writers for analysis outputs: CSV tables, text (Markdown, JSON), Parquet tables and
figures (PNG + PDF).

Each writes to this process's hidden temporary name beside the output
(`evenet.io.temporaries`) and renames it into place, so a killed job or an error never leaves
a half-written table where a reviewer (or the next rule) would read it.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from evenet.io.temporaries import remove_stale, temporary


def _prepare(path: str | os.PathLike) -> tuple[Path, Path]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    return path, temporary(path)


def write_text(path: str | os.PathLike, text: str) -> None:
    path, staging = _prepare(path)
    staging.write_text(text)
    os.replace(staging, path)


def write_json(path: str | os.PathLike, payload: Any) -> None:
    write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def write_csv(
    path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]
) -> None:
    """One row per mapping, in ``columns`` order (a header alone when there are no rows)."""
    path, staging = _prepare(path)
    with open(staging, "w", newline="") as f:
        writer = csv.DictWriter(f, list(columns), extrasaction="raise")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(staging, path)


def write_parquet(path: str | os.PathLike, table: pa.Table) -> None:
    path, staging = _prepare(path)
    pq.write_table(table, staging)
    os.replace(staging, path)


def save_figure(figure, stem: str | os.PathLike) -> list[Path]:
    """``stem``.png and ``stem``.pdf of a matplotlib figure (closed afterwards)."""
    import matplotlib.pyplot as plt

    written = []
    for suffix in (".png", ".pdf"):
        path, staging = _prepare(Path(f"{stem}{suffix}"))
        figure.savefig(staging, format=suffix[1:], dpi=150, bbox_inches="tight")
        os.replace(staging, path)
        written.append(path)
    plt.close(figure)
    return written
