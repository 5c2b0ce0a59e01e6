"""Arrow columns of a shard -> numpy arrays, without Python loops over events."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def column_shape(arrow_type: pa.DataType) -> tuple[int, ...]:
    """Per-event shape of a (nested) fixed-size list type; () for a scalar column."""
    shape = []
    while pa.types.is_fixed_size_list(arrow_type):
        shape.append(arrow_type.list_size)
        arrow_type = arrow_type.value_type
    return tuple(shape)


def to_numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """(n, *shape) numpy array of a fixed-size list (or scalar) column without nulls.

    ``flatten()`` (not ``.values``) honours the slice offset of a sliced array; floats and
    integers come out zero-copy, booleans are unpacked from Arrow's bitmap (one copy).
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    n, shape = len(column), column_shape(column.type)
    if column.null_count:
        raise ValueError(f"column of type {column.type} has {column.null_count} nulls")
    leaf = column
    for _ in shape:
        leaf = leaf.flatten()
    if pa.types.is_dictionary(leaf.type):
        raise TypeError("dictionary (string) columns have no numeric tensor form")
    return leaf.to_numpy(zero_copy_only=False).reshape(n, *shape)
