"""`evenet convert`: reconstruction files of one sample -> Parquet shards + manifest.json."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from evenet.config import fingerprint
from evenet.io.events import ReaderError, RecoEvents
from evenet.io.manifest import Manifest, check_replaceable, sha256_file
from evenet.io.pointcloud import build_point_clouds
from evenet.io.schema import (
    SPLITS,
    TARGET_COLUMNS,
    Shapes,
    arrow_schema,
    columns_description,
)
from evenet.io.shards import ShardWriter
from evenet.io.split import assign_split
from evenet.io.targets import build_targets
from evenet.io.topologies import DEFAULT_TOPOLOGIES, Topologies, load_topologies

FORMATS = ("nanoaod", "delphes", "table")
# Entries read per chunk from one file: bounded memory, large enough for vectorisation.
CHUNK_EVENTS = 100_000


def _chunks(path: Path, fmt: str, sample: str, config: dict, table_format, runs: list):
    """Yield RecoEvents chunks of one input file; append its Runs record (or None) to ``runs``."""
    if fmt == "nanoaod":
        from evenet.io.nanoaod import open_events, read_runs_record, read_tree

        nano = config["readers"]["nanoaod"]
        file, tree = open_events(path)
        with file:
            runs.append(read_runs_record(file))
            for start in range(0, max(tree.num_entries, 1), CHUNK_EVENTS):
                yield read_tree(
                    tree,
                    path,
                    sample,
                    nano["btag_branch"],
                    nano["btag_working_point"],
                    entry_start=start,
                    entry_stop=start + CHUNK_EVENTS,
                )
    elif fmt == "delphes":
        from evenet.io.delphes import read_delphes

        runs.append(None)
        yield read_delphes(path, sample)
    elif fmt == "table":
        from evenet.io.tables import read_table

        runs.append(None)
        if table_format is None:
            raise ReaderError(
                "--format table needs --table-format MAP.yaml (config/table_formats/)"
            )
        yield read_table(path, table_format, sample)
    else:
        raise ReaderError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")


def _count(counts: dict[int, list[int]], process: np.ndarray, split: np.ndarray) -> None:
    """Add a chunk's events per (process id, split) to ``counts``."""
    # One int64 key per event: a 1-D unique is ~30x faster than np.unique(axis=1).
    keys, n = np.unique(process.astype(np.int64) * 4 + split, return_counts=True)
    for key, k in zip(keys.tolist(), n.tolist(), strict=True):
        counts.setdefault(key // 4, [0] * len(SPLITS))[key % 4] += k


def _sample_record(runs: list) -> dict:
    """σ and Σweights from our ntuples' Runs records (None for inputs without them)."""
    if not runs or any(r is None for r in runs):
        return {"xsec_pb": None, "sum_weights": None}
    total = sum(r["genEventSumw"] for r in runs)
    # Shards of one sample share σ up to statistics: Σw-weighted mean of the estimates.
    xsec = sum(r["xsec_pb"] * r["genEventSumw"] for r in runs) / total if total else None
    # Events Pythia produced before a generator filter (ntuples older than the filter: written)
    generated = sum(int(r.get("filter_tried", r["genEventCount"])) for r in runs)
    return {"xsec_pb": xsec, "sum_weights": total, "generated": generated}


def convert_sample(
    inputs: list[Path],
    output: Path,
    sample: str,
    config: dict,
    fmt: str = "nanoaod",
    topology: str | None = None,
    table_format=None,
    topologies_path: Path = DEFAULT_TOPOLOGIES,
    log=print,
) -> dict:
    """Convert ``inputs`` (one sample) into ``output``/ (shards + manifest.json); returns it.
    ``output`` may be new, empty, or an earlier conversion (replaced once this one is done)."""
    from evenet.catalogue import load_catalogue, manifest_record

    output = check_replaceable(output, "sample", inputs)
    conv = config["conversion"]
    topologies: Topologies = load_topologies(topologies_path)
    catalogue = load_catalogue()
    names_by_id = {p.id: name for name, p in catalogue.items()}
    extra = list(conv["x_extra"])
    extra_globals = list(conv.get("globals_extra") or [])
    shapes = Shapes(
        topologies.resonances,
        topologies.daughters,
        topologies.partons,
        len(extra),
        len(extra_globals),
    )
    writer = None
    counts: dict[int, list[int]] = {}
    events_total, has_targets, start = 0, None, time.perf_counter()
    runs: list = []
    try:
        for path in inputs:
            for chunk in _chunks(path, fmt, sample, config, table_format, runs):
                if len(chunk) == 0:
                    continue
                truth = chunk.has_truth
                if has_targets is None:
                    has_targets = truth
                    writer = ShardWriter(
                        output,
                        sample,
                        arrow_schema(shapes, truth),
                        conv["shard_events"],
                        conv["row_group_events"],
                    )
                elif truth != has_targets:
                    raise ReaderError(f"{path}: mixes files with and without truth in one sample")
                columns = _convert_chunk(chunk, conv, topologies, names_by_id, topology, path)
                writer.add(columns)
                events_total += len(chunk)
                _count(counts, columns["process"], columns["split"])
        if writer is None:
            raise ReaderError(f"no events in {', '.join(map(str, inputs))}")
        shards = writer.finish()
        record = Manifest(
            kind="sample",
            name=sample,
            columns=columns_description(shapes, has_targets),
            shapes={
                "R": shapes.resonances,
                "D": shapes.daughters,
                "P": shapes.partons,
                "K": shapes.extra_features,
            },
            x_extra=extra,
            globals_extra=extra_globals,
            has_targets=has_targets,
            target_columns=list(TARGET_COLUMNS) if has_targets else [],
            topologies=topologies.summary(),
            processes=manifest_record(catalogue),
            samples={
                sample: {
                    "process": sorted(counts),
                    "events": events_total,
                    "has_targets": has_targets,
                    **_sample_record(runs),
                }
            },
            shards=shards,
            counts={str(pid): c for pid, c in sorted(counts.items())},
            conversion=conv,
            readers=config["readers"],
            config_hash=fingerprint(conv, config["readers"], topologies.summary()),
            sources=[{"path": str(p), "sha256": sha256_file(p)} for p in inputs],
        )
        record.write(writer.staging)
        manifest = record.to_dict()
        writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    seconds = time.perf_counter() - start
    log(
        f"[convert {sample}] {events_total} events -> {len(shards)} shard(s) in {output} "
        f"({seconds:.1f} s, {events_total / max(seconds, 1e-9):.0f} events/s)"
    )
    return manifest


def _convert_chunk(
    chunk: RecoEvents,
    conv: dict,
    topologies: Topologies,
    names_by_id: dict,
    topology: str | None,
    path: Path,
) -> dict:
    pc = build_point_clouds(chunk, conv)
    for name, values in (
        ("x", pc.x),
        ("globals", pc.globals),
        ("x_extra", pc.x_extra),
        ("globals_extra", pc.globals_extra),
    ):
        if values is not None and not np.all(np.isfinite(values)):
            raise ReaderError(
                f"{path}: non-finite values in the '{name}' column of sample "
                f"{chunk.sample} (check the input branches)"
            )
    columns = {
        "run": chunk.run,
        "event": chunk.event,
        "split": assign_split(chunk.sample, chunk.run, chunk.event, conv["split_fractions"]),
        "x": pc.x,
        "x_mask": pc.x_mask,
        "globals": pc.globals,
        "process": chunk.process,
        "weight": chunk.weight,
    }
    if pc.x_extra is not None:
        columns["x_extra"] = pc.x_extra
    if pc.globals_extra is not None:
        columns["globals_extra"] = pc.globals_extra
    if chunk.has_truth:
        if topology is not None:
            candidates = [t for t in topologies.topologies if t.name == topology]
            if not candidates:
                known = ", ".join(t.name for t in topologies.topologies)
                raise ReaderError(f"unknown topology '{topology}' (known: {known})")
        else:
            process_names = {names_by_id.get(int(p)) for p in np.unique(chunk.process)}
            candidates = [
                t
                for t in topologies.topologies
                if any(name in t.processes for name in process_names)
            ]
        columns.update(build_targets(chunk.genpart, pc, topologies, candidates))
    return columns
