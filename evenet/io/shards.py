"""Parquet shards of one converted sample, written atomically, plus their manifest entries.

Fixed-shape columns become fixed-size lists or tensors (never one column per element); files are
zstd-compressed with row groups of ``row_group_events`` so the loader can stream them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from evenet.io.columns import from_numpy
from evenet.io.manifest import file_record
from evenet.io.schema import SPLITS
from evenet.io.temporaries import remove_stale
from evenet.io.temporaries import temporary as temporary_name


def to_table(columns: dict[str, np.ndarray], schema: pa.Schema, sample: str) -> pa.Table:
    arrays = []
    n = len(columns["run"])
    for field in schema:
        if field.name == "sample":
            arrays.append(pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), pa.array([sample])))
        else:
            arrays.append(from_numpy(np.asarray(columns[field.name]), field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def write_shard(table: pa.Table, path: Path, sample: str, row_group_events: int) -> dict:
    """Write one shard file; returns its manifest entry (path relative to its folder)."""
    # Dictionary-encoding float columns is slow and gains nothing: only `sample` gets it.
    pq.write_table(
        table,
        path,
        row_group_size=row_group_events,
        compression="zstd",
        use_dictionary=["sample"],
        write_statistics=False,
    )
    split = table.column("split").to_numpy()
    groups = []
    for start in range(0, table.num_rows, row_group_events):
        part = split[start : start + row_group_events]
        groups.append(
            {"rows": len(part), "splits": [int(np.sum(part == s)) for s in SPLITS.values()]}
        )
    return {
        "path": path.name,
        "sample": sample,
        "rows": table.num_rows,
        **file_record(path),
        "row_groups": groups,
    }


class ShardWriter:
    """Accumulates chunks, cuts files of ``shard_events`` and row groups of ``row_group_events``.

    Everything goes into a temporary folder; ``commit`` renames it onto ``output`` (replacing
    an older conversion only once the new one is complete).
    """

    def __init__(
        self, output: Path, sample: str, schema: pa.Schema, shard_events: int, row_group_events: int
    ):
        self.output = Path(output)
        self.sample, self.schema = sample, schema
        self.shard_events, self.row_group_events = shard_events, row_group_events
        remove_stale(self.output)
        self.staging = temporary_name(self.output)
        if self.staging.exists():
            shutil.rmtree(self.staging)
        self.staging.mkdir(parents=True)
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self.entries: list[dict] = []

    def add(self, columns: dict[str, np.ndarray]) -> None:
        # Events grouped by split within each added chunk: most row groups then hold one
        # split, and a val/test pass of the loader skips the others unread.
        order = np.argsort(columns["split"], kind="stable")
        columns = {k: np.asarray(v)[order] for k, v in columns.items()}
        table = to_table(columns, self.schema, self.sample)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= self.shard_events:
            self._flush(self.shard_events)

    def _flush(self, rows: int) -> None:
        table = pa.concat_tables(self._pending).combine_chunks()
        head, tail = table.slice(0, rows), table.slice(rows)
        self._pending = [tail] if tail.num_rows else []
        self._pending_rows = tail.num_rows

        name = f"{self.sample}_{len(self.entries):04d}.parquet"
        self.entries.append(
            write_shard(head, self.staging / name, self.sample, self.row_group_events)
        )

    def finish(self) -> list[dict]:
        if self._pending_rows:
            self._flush(self._pending_rows)
        return self.entries

    def commit(self) -> None:
        """Move the staged folder onto ``output`` (an older one is removed only afterwards)."""
        old = None
        if self.output.exists():
            old = temporary_name(self.output, "old")
            os.replace(self.output, old)
        os.replace(self.staging, self.output)
        if old is not None:
            shutil.rmtree(old)

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
