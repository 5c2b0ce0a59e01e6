"""What a checkpoint generates, the condition columns it needs, and reading them from Parquet.

A model that samples events has an ``object_generation`` head (the generated objects) and may
have a ``global_generation`` head, which runs first: it generates some per-event features
(e.g. the dimuon pT and Delta R) from the given ones (m_mumu), and the object head then
conditions on both. The conditions file must hold every condition no head generates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from evenet.errors import EvenetError
from evenet.model.normalize import GLOBAL_INPUTS


class SamplingError(EvenetError, ValueError):
    """A checkpoint that cannot sample events, or an unusable conditions file."""


@dataclass(frozen=True)
class GenerationPlan:
    """The features of one sampling chain, by name (globals and globals_extra names)."""

    required: tuple[str, ...]  # columns the conditions file must hold
    global_generated: tuple[str, ...]  # what the global_generation head generates (may be ())
    object_condition: tuple[str, ...]  # what the object_generation head is given
    slots: tuple[int, ...]  # the object slots it generates


def _names(columns: tuple[str, ...], chosen) -> tuple[str, ...]:
    """Feature names of the chosen (bool) model columns; a periodic pair names its feature."""
    out = []
    for column, on in zip(columns, chosen.tolist(), strict=True):
        name = column.removeprefix("cos_").removeprefix("sin_") if on else None
        if name and name not in out:
            out.append(name)
    return tuple(out)


def generation_plan(model) -> GenerationPlan:
    """The chain ``model`` (an EveNet) runs; SamplingError when it has no object generation."""
    if "object_generation" not in model.heads:
        raise SamplingError(
            "the checkpoint has no object_generation head: fine-tune with the "
            "object_generation task (training.object_generation) to sample events"
        )
    columns = (*GLOBAL_INPUTS, *model.config.globals_extra)
    objects = model.heads["object_generation"]
    object_condition = _names(columns, objects.given)
    generated: tuple[str, ...] = ()
    required: list[str] = []
    if "global_generation" in model.heads:
        head = model.heads["global_generation"]
        generated = _names(columns, head.generated)
        required += _names(columns, head.given)
    required += [n for n in object_condition if n not in generated and n not in required]
    return GenerationPlan(tuple(required), generated, object_condition, objects.slots)


def read_conditions(path: str | Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The ``required`` columns of the Parquet file ``path`` as float64 arrays (one event per
    row); SamplingError naming the problem for a missing file or column, a non-numeric
    column, no rows, or a non-finite value."""
    path = Path(path)
    if not path.is_file():
        raise SamplingError(f"conditions file {path} does not exist")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as error:
        raise SamplingError(f"{path} is not a readable Parquet file ({error})") from None
    missing = [name for name in required if name not in schema.names]
    if missing:
        raise SamplingError(
            f"{path} lacks the condition column(s) {missing}: the checkpoint needs "
            f"{list(required)} (it has {schema.names})"
        )
    table = pq.read_table(path, columns=list(required))
    if table.num_rows == 0:
        raise SamplingError(f"{path} holds no rows: nothing to generate")
    out = {}
    for name in required:
        column = table.column(name)
        if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
            raise SamplingError(f"{path}: condition column '{name}' is {column.type}, not numeric")
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise SamplingError(
                f"{path}: condition column '{name}' has {len(bad)} missing or non-finite "
                f"value(s) (first at row {bad[0]})"
            )
        out[name] = values
    return out
