"""Per-event predictions of a trained model over some splits of a dataset, as one Parquet file.

One row per event of each requested split, split after split, each in the loader's file order
(shuffle off, nothing dropped); before a split is published its (run, event) are checked row
by row against the dataset's, which also supply ``sample``. `evenet.io.predictions.load` joins
the file back to any dataset column on (sample, run, event). Columns: the ids, then what each
head declares (`Head.prediction_fields`, evenet/model/heads/contract.py); the built-in heads:

  sample              dictionary<string>, the dataset's sample name
  run, event          int64, the dataset's ids
  split               int8: 0 train, 1 val, 2 test
  process             int32
  weight              float32
  scores              fixed-size list<float32>[C]: softmax over the C classes (classification)
  predicted_class     int16: argmax of ``scores``
  assignment.<T>      fixed_shape_tensor<int16>[R_T, D_T], one per hypothesis topology T
                      (``hypotheses``), for EVERY event (signal, background and data alike):
                      row r = resonance r of T (the order of its ``resonances``), column d =
                      the object slot of daughter d (index into the event's 18 ``x`` slots),
                      from the exclusive decode; -1: padding (daughters beyond a resonance's)
                      or no valid set of unused objects left. No truth enters prediction.
  assignment_probability.<T>  fixed-size list<float32>[R_T]: probability of row r's set
                      (0 where none was chosen).
  detection.<T>       fixed-size list<float32>[R_T]: probability that resonance r was fully
                      reconstructed.
  segmentation        fixed-size list<int8>[18]: per object slot the resonance type it comes
                      from, an index into the metadata's ``segmentation_types``; -1 for none
  segmentation_instance  fixed-size list<int8>[18]: which predicted resonance (slots with the
                      same value come from one resonance), -1 for none
  neutrinos           fixed_shape_tensor<float32>[S, 2, 3]: S samples of the two neutrino
                      slots in raw (pT, eta, phi) (only with ``neutrino_samples`` > 0)
  neutrinos_exist     fixed-size list<float32>[2]: probability that each neutrino slot holds a
                      neutrino (samples of a slot that does not exist mean nothing)

Provenance (checkpoint and its sha256, dataset and its manifest's sha256, splits, class names,
parameter counts (params_total, params_body, params_heads),
evenet version, sampling settings) is JSON under the schema metadata key ``evenet.prediction``.
Neutrino samples come from one CPU generator seeded with ``seed`` and drawn batch after batch
in delivery order: the same seed, batch size and number of loader workers give the same
samples.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from evenet import __version__
from evenet.data.loader import make_loader
from evenet.io.columns import from_numpy, to_numpy
from evenet.io.manifest import load_manifest, sha256_file
from evenet.io.predictions import (
    METADATA_KEY,
    PredictionError,
    dataset_table,
    manifest_checksum,
)
from evenet.io.schema import SPLITS
from evenet.io.temporaries import remove_stale
from evenet.io.temporaries import temporary as temporary_name
from evenet.model.checkpoint import from_checkpoint
from evenet.model.heads.contract import PredictContext, PredictSettings
from evenet.model.model import EveNet
from evenet.model.summary import parameter_table

_ID_COLUMNS = ("run", "event", "process", "weight")
_INPUT_COLUMNS = ("x", "x_mask", "globals")


def predict(
    checkpoint: str | os.PathLike,
    dataset: str | os.PathLike,
    output: str | os.PathLike,
    *,
    splits: Sequence[str] = ("test",),
    batch_size: int = 1024,
    neutrino_samples: int = 0,
    diffusion_steps: int = 25,
    seed: int = 0,
    num_workers: int = 0,
    hypotheses: Sequence[str] = (),
    log: Callable[[str], None] = print,
) -> dict:
    """Write the per-event predictions of ``checkpoint`` on ``splits`` of ``dataset`` to the
    Parquet file ``output`` (atomically: a failed run leaves an existing file untouched).
    Returns a summary: output, events (per split), batches, columns, seconds."""
    start = time.perf_counter()
    output = Path(output)
    splits = list(dict.fromkeys(splits))
    _check_settings(output, splits, batch_size, neutrino_samples, diffusion_steps)
    manifest = load_manifest(dataset)
    expected = {split: _split_events(manifest, split) for split in splits}
    if not any(expected.values()):
        raise PredictionError(f"{dataset}: the split(s) {splits} hold no events")
    model, payload = from_checkpoint(checkpoint, manifest=manifest)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    hypotheses = _check_hypotheses(model, list(dict.fromkeys(hypotheses)))
    samples = neutrino_samples if "neutrino_generation" in model.heads else 0
    metadata = {
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": sha256_file(checkpoint),
        "dataset": str(dataset),
        "manifest_sha256": manifest_checksum(dataset),
        "splits": splits,
        "classes": manifest.get("classes"),
        "class_map": payload.get("class_map") or manifest.get("class_map"),
        "evenet_version": __version__,
        "tasks": list(model.heads.keys()),
        "neutrino_samples": samples,
        "diffusion_steps": diffusion_steps,
        "seed": seed,
        "batch_size": batch_size,
        "num_workers": num_workers,
        "hypotheses": hypotheses,
        "parameters": {k: v for k, v in parameter_table(model).items() if k.startswith("params_")},
    }
    for head in model.heads.values():
        metadata.update(head.prediction_metadata())
    settings = PredictSettings(hypotheses, samples, diffusion_steps)
    heads_schema = output_schema(model, settings, metadata)
    sampling = {"settings": settings, "generator": torch.Generator().manual_seed(seed)}
    batches = 0
    with torch.no_grad(), _atomic_file(output) as temporary:
        with pq.ParquetWriter(temporary, with_ids(heads_schema), compression="zstd") as final:
            for split in splits:
                if expected[split] == 0:
                    log(f"[predict] the {split!r} split holds no events: skipped")
                    continue
                loader = make_loader(
                    dataset,
                    num_workers=num_workers,
                    split=split,
                    columns=[
                        *_ID_COLUMNS,
                        *_INPUT_COLUMNS,
                        *(["x_extra"] if model.config.x_extra else []),
                        *(["globals_extra"] if model.config.globals_extra else []),
                    ],
                    batch_size=batch_size,
                    shuffle=False,
                    drop_last=False,
                    use_class_map=False,  # every event of the split, labelled or not
                    rank=0,
                    world_size=1,
                )
                batches += len(loader)
                with _part_files(output, max(1, num_workers)) as parts:
                    _run_loader(model, loader, device, sampling, heads_schema, parts, split, log)
                    ids = dataset_table(dataset, (), [split])
                    _append_with_ids(parts, ids, final, expected[split], split)
    seconds = time.perf_counter() - start
    log(f"[predict] wrote {sum(expected.values())} events to {output} in {seconds:.1f} s")
    return {
        "output": str(output),
        "events": expected,
        "batches": batches,
        "columns": with_ids(heads_schema).names,
        "seconds": seconds,
    }


def _run_loader(model, loader, device, sampling, schema, parts, split, log) -> None:
    """Predict every batch of one split's loader into the part files (batch j: part j % K)."""
    written, batches = 0, len(loader)
    every = max(1, math.ceil(batches / 10))
    with ExitStack() as stack:
        writers = [stack.enter_context(pq.ParquetWriter(part, schema)) for part in parts]
        for index, batch in enumerate(loader):
            batch = {k: v.to(device) for k, v in batch.items()}
            values = _predict_batch(model, batch, sampling)
            writers[index % len(parts)].write_table(_table(values, schema))
            written += len(values["event"])
            if (index + 1) % every == 0 or index + 1 == batches:
                log(f"[predict] {split}: batch {index + 1}/{batches}, {written} events")


def _append_with_ids(
    parts: list[Path], ids: pa.Table, writer: pq.ParquetWriter, expected: int, split: str
) -> None:
    """Copy one split's predictions (part files in worker order = file order) into the final
    file, adding ``sample`` and ``split`` from the dataset after checking that run and event
    line up row by row (a misaligned loader would attach outputs to the wrong events)."""
    offset = 0
    run, event = ids["run"].to_numpy(), ids["event"].to_numpy()
    for part in parts:
        source = pq.ParquetFile(part)
        for group in range(source.num_row_groups):
            table = source.read_row_group(group)
            n = table.num_rows
            if offset + n > len(run) or not (
                np.array_equal(to_numpy(table["run"]), run[offset : offset + n])
                and np.array_equal(to_numpy(table["event"]), event[offset : offset + n])
            ):
                raise PredictionError(
                    f"the {split!r} predictions do not line up with the dataset's events "
                    f"after row {offset}: the loader did not deliver file order"
                )
            sample = ids["sample"].slice(offset, n).cast(writer.schema.field("sample").type)
            table = table.add_column(0, "sample", sample)
            table = table.add_column(3, "split", pa.array(np.full(n, SPLITS[split], np.int8)))
            writer.write_table(table.select(writer.schema.names))
            offset += n
    if offset != expected:  # before the rename: never publish a short file
        raise PredictionError(f"predicted {offset} {split} events, the split holds {expected}")


# ---- checks ----------------------------------------------------------------------------------


def _check_settings(
    output: Path, splits: list[str], batch_size: int, neutrino_samples: int, diffusion_steps: int
) -> None:
    if not output.parent.is_dir():
        raise PredictionError(f"the output folder {output.parent} does not exist")
    if output.is_dir():
        raise PredictionError(f"the output {output} is a folder, not a file name")
    unknown = [split for split in splits if split not in SPLITS]
    if unknown or not splits:
        raise PredictionError(f"splits must be among {list(SPLITS)}, got {splits!r}")
    if batch_size < 1 or neutrino_samples < 0 or diffusion_steps < 1:
        raise PredictionError(
            "need batch_size >= 1, neutrino_samples >= 0, diffusion_steps >= 1 (got "
            f"{batch_size}, {neutrino_samples}, {diffusion_steps})"
        )


def _check_hypotheses(model: EveNet, hypotheses: list[str]) -> list[str]:
    """The hypothesis topologies, each one the model has an assignment head for."""
    known = list(model.heads["assignment"].keys()) if "assignment" in model.heads else []
    unknown = [name for name in hypotheses if name not in known]
    if unknown:
        raise PredictionError(
            f"hypotheses {unknown}: the model has assignment heads for {known or 'no topology'}"
        )
    return hypotheses


def _split_events(manifest: dict, split: str) -> int:
    """Events of ``split`` over all processes, from the manifest's row-group counts."""
    index = SPLITS[split]
    return sum(
        int(group["splits"][index]) for shard in manifest["shards"] for group in shard["row_groups"]
    )


# ---- output layout ---------------------------------------------------------------------------


def output_schema(model: EveNet, settings: PredictSettings, metadata: dict) -> pa.Schema:
    """The output columns of ``model``: the ids, then each head's `prediction_fields`, with
    the provenance metadata."""
    fields = [
        pa.field("run", pa.int64()),
        pa.field("event", pa.int64()),
        pa.field("process", pa.int32()),
        pa.field("weight", pa.float32()),
    ]
    for head in model.heads.values():
        fields += head.prediction_fields(settings)
    names = [f.name for f in fields]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise PredictionError(f"several heads write the prediction column(s) {repeated}")
    return pa.schema(fields, metadata={METADATA_KEY: json.dumps(metadata).encode()})


def _table(values: dict[str, np.ndarray], schema: pa.Schema) -> pa.Table:
    arrays = [from_numpy(values[f.name].astype(_numpy_dtype(f.type)), f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _numpy_dtype(arrow_type: pa.DataType) -> np.dtype:
    """The numpy dtype of a column's scalars (through tensor and fixed-size list types)."""
    if isinstance(arrow_type, pa.BaseExtensionType):
        arrow_type = arrow_type.storage_type
    while pa.types.is_fixed_size_list(arrow_type):
        arrow_type = arrow_type.value_type
    return arrow_type.to_pandas_dtype()


def with_ids(schema: pa.Schema) -> pa.Schema:
    """The file's schema: ``sample`` (first) and ``split`` (after run, event) added."""
    fields = list(schema)
    fields.insert(0, pa.field("sample", pa.dictionary(pa.int32(), pa.string())))
    fields.insert(3, pa.field("split", pa.int8()))
    return pa.schema(fields, metadata=schema.metadata)


@contextmanager
def _atomic_file(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path``, renamed into place only when the block succeeds."""
    remove_stale(path)
    temporary = temporary_name(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def _part_files(path: Path, workers: int) -> Iterator[list[Path]]:
    """One temporary part file per loader worker beside ``path``, always removed afterwards.

    With K > 1 workers the loader hands out batch j from worker j % K, and worker w holds the
    w-th contiguous stretch of the split: batches go to part j % K, and reading the parts in
    worker order restores the file order."""
    parts = [temporary_name(path, f"part{w}.tmp") for w in range(workers)]
    try:
        yield parts
    finally:
        for part in parts:
            part.unlink(missing_ok=True)


# ---- one batch -------------------------------------------------------------------------------


def _predict_batch(model: EveNet, batch: dict, sampling: dict) -> dict[str, np.ndarray]:
    """Output column name -> (B, ...) numpy values for one loader batch."""
    values = {name: _numpy(batch[name]) for name in _ID_COLUMNS}
    enc = model.encode(batch)
    context = PredictContext(batch, model.normalizer, sampling["settings"], sampling["generator"])
    for head in model.heads.values():
        values.update({k: _numpy(v) for k, v in head.predict_outputs(enc, context).items()})
    return values


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()
