"""Reads one row group of a shard and picks the rows of a plan ``Piece`` (numpy, no copies)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from evenet import SCHEMA_VERSION
from evenet.data.plan import Piece
from evenet.errors import EvenetError
from evenet.io.columns import to_numpy


class DataError(EvenetError, ValueError):
    """A shard does not match its manifest (missing file, column, schema or counts)."""


class ShardReader:
    """Per-process reader; keeps a few Parquet files open (their footers are parsed once).

    groups[i] = (shard path, row-group index in that file); counts[i] = the selected events
    the manifest promises for it, checked on every read so a plan never silently drifts.
    """

    OPEN_FILES = 2  # a file keeps ~7 MB of reader buffers; reopening costs < 1 ms

    def __init__(
        self,
        groups: list[tuple[Path, int]],
        counts: np.ndarray,
        columns: list[str],
        split: int,
        processes: np.ndarray | None,
        class_map: dict[int, int] | None,
    ):
        self.groups, self.counts = groups, counts
        self.columns = [c for c in columns if c != "label"]
        self.labels = "label" in columns
        self.split, self.processes = split, processes
        self._read = sorted({*self.columns, "split", "process"})
        if class_map:
            self._keys = np.array(sorted(class_map), dtype=np.int64)
            self._values = np.array([class_map[k] for k in self._keys], dtype=np.int64)
        self._files: OrderedDict[Path, pq.ParquetFile] = OrderedDict()

    def _open(self, path: Path) -> pq.ParquetFile:
        if path in self._files:
            self._files.move_to_end(path)
            return self._files[path]
        try:
            # pre_buffer: one coalesced read per row group (parallel file systems like Lustre)
            handle = pq.ParquetFile(path, pre_buffer=True)
        except FileNotFoundError:
            raise DataError(f"shard {path} is missing") from None
        except OSError as error:
            raise DataError(f"cannot read shard {path}: {error}") from None
        schema = handle.schema_arrow
        version = (schema.metadata or {}).get(b"evenet_schema_version")
        if version is not None and int(version) != SCHEMA_VERSION:
            raise DataError(f"shard {path} has schema version {int(version)}, not {SCHEMA_VERSION}")
        missing = sorted(set(self._read) - set(schema.names))
        if missing:
            raise DataError(f"shard {path} lacks columns {missing}")
        self._files[path] = handle
        if len(self._files) > self.OPEN_FILES:
            self._files.popitem(last=False)
        return handle

    def read(self, piece: Piece) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The row group's columns (whole, zero-copy where Arrow allows) and the piece's rows."""
        path, index = self.groups[piece.group]
        table = self._open(path).read_row_group(index, columns=self._read, use_threads=False)
        process = to_numpy(table.column("process"))
        mask = to_numpy(table.column("split")) == self.split
        if self.processes is not None:
            mask &= np.isin(process, self.processes)
        rows = np.flatnonzero(mask)
        if len(rows) != self.counts[piece.group]:
            raise DataError(
                f"shard {path} row group {index}: the manifest promises "
                f"{self.counts[piece.group]} selected events, the file has {len(rows)}"
            )
        columns = {name: to_numpy(table.column(name)) for name in self.columns}
        if self.labels:  # rows outside the class map get a clipped lookup; they are not selected
            position = np.searchsorted(self._keys, process).clip(max=len(self._keys) - 1)
            columns["label"] = self._values[position]
        return columns, rows[piece.start : piece.stop]


def count_selected(path: Path, split: int, processes: np.ndarray) -> list[int]:
    """Selected events per row group of a shard, from its split and process columns only
    (for samples that mix selected and unselected processes)."""
    try:
        handle = pq.ParquetFile(path)
    except OSError as error:
        raise DataError(f"cannot read shard {path}: {error}") from None
    counts = []
    for index in range(handle.num_row_groups):
        table = handle.read_row_group(index, columns=["split", "process"], use_threads=False)
        mask = to_numpy(table.column("split")) == split
        mask &= np.isin(to_numpy(table.column("process")), processes)
        counts.append(int(mask.sum()))
    return counts
