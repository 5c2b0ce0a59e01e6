"""Events are identified by (sample, run, event) everywhere: find one list's events in another.

Vectorised with numpy (no Python loop over events): both key lists are encoded to integer
ids with one ``np.unique`` over their concatenation.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from evenet.errors import EvenetError

Keys = tuple[np.ndarray, np.ndarray, np.ndarray]  # sample (strings), run, event


class DuplicateEventError(EvenetError, ValueError):
    """A list that must name each event once names one twice."""


def keys(table: pa.Table) -> Keys:
    """The (sample, run, event) columns of a table as numpy arrays."""
    sample = table["sample"].cast(pa.string()).to_numpy(zero_copy_only=False)
    return sample, table["run"].to_numpy(), table["event"].to_numpy()


def locate(reference: Keys, query: Keys) -> np.ndarray:
    """For each query event, its row in ``reference`` (-1 where absent).

    Raises DuplicateEventError if ``reference`` holds an event twice.
    """
    n = len(reference[1])
    names, sample_codes = np.unique(
        np.concatenate([reference[0], query[0]]).astype(str), return_inverse=True
    )
    stacked = np.stack(
        [
            sample_codes.reshape(-1).astype(np.int64),
            np.concatenate([reference[1], query[1]]).astype(np.int64),
            np.concatenate([reference[2], query[2]]).astype(np.int64),
        ],
        axis=1,
    )
    if len(stacked) == 0:
        return np.zeros(0, dtype=np.int64)
    _, ids = np.unique(stacked, axis=0, return_inverse=True)
    ids = ids.reshape(-1)
    ref_ids, query_ids = ids[:n], ids[n:]
    if len(np.unique(ref_ids)) != n:
        first = int(np.flatnonzero(np.bincount(ref_ids) > 1)[0])
        row = int(np.flatnonzero(ref_ids == first)[0])
        raise DuplicateEventError(
            f"event (sample {reference[0][row]!r}, run {reference[1][row]}, event "
            f"{reference[2][row]}) is listed twice"
        )
    where = np.full(ids.max() + 1, -1, dtype=np.int64)
    where[ref_ids] = np.arange(n)
    return where[query_ids]
