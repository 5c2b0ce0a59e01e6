"""Shuffle windows and fixed-size batches, gathered straight into their destination.

A window is the selected rows of a few consecutive row-group slices, copied once into
contiguous arrays, plus the order in which its rows are handed out (a permutation when
shuffling). A batch is a list of segments (window, row indices); ``fill`` gathers them into
whatever arrays the caller provides (fresh numpy arrays, or a shared-memory buffer for the
worker -> main-process transfer), so every event is copied twice: into its window, into
its batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

Columns = dict[str, np.ndarray]
Segment = tuple[Columns, np.ndarray]  # rows ``index`` of ``columns``
# np.take(out=...) with the default mode="raise" gathers into a temporary and copies it over;
# the indices are always valid, so "clip" writes straight into ``out``.
_UNBUFFERED = "clip"


def window(parts: Iterable[tuple[Columns, np.ndarray]], total: int) -> Columns:
    """Concatenate the ``rows`` of each (columns, rows) part; ``parts`` may be a generator
    (each row group is then released once copied)."""
    out: Columns = {}
    offset = 0
    for columns, rows in parts:
        for name, values in columns.items():
            if name not in out:
                out[name] = np.empty((total, *values.shape[1:]), dtype=values.dtype)
            np.take(
                values, rows, axis=0, out=out[name][offset : offset + len(rows)], mode=_UNBUFFERED
            )
        offset += len(rows)
    return out


def batch_segments(
    windows: Iterable[tuple[Columns, np.ndarray]], batch_size: int
) -> Iterator[list[Segment]]:
    """Cut the (columns, order) windows into batches of ``batch_size`` rows (the last may be
    short). A window's incomplete tail is copied out, so no window is kept while the next one
    is read."""
    carry: list[Segment] = []
    carried = 0
    for columns, order in windows:
        position = 0
        while position < len(order):
            take = min(batch_size - carried, len(order) - position)
            index = order[position : position + take]
            position += take
            if carried + take == batch_size:
                yield [*carry, (columns, index)]
                carry, carried = [], 0
            else:  # the window's tail
                tail = {name: values[index] for name, values in columns.items()}
                carry.append((tail, np.arange(take)))
                carried += take
        del columns, order
    if carried:
        yield carry


def rows(segments: list[Segment]) -> int:
    return sum(len(index) for _, index in segments)


def fill(segments: list[Segment], out: Columns) -> Columns:
    offset = 0
    for columns, index in segments:
        for name, values in columns.items():
            np.take(
                values, index, axis=0, out=out[name][offset : offset + len(index)], mode=_UNBUFFERED
            )
        offset += len(index)
    return out


def allocate(segments: list[Segment]) -> Columns:
    """Fresh arrays for a batch of these segments."""
    n, first = rows(segments), segments[0][0]
    return {name: np.empty((n, *v.shape[1:]), dtype=v.dtype) for name, v in first.items()}
