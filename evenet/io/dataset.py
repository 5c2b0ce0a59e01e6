"""Datasets: manifests that list converted samples, their shards and a task's class map.

Samples are converted on their own with global shapes; a dataset only points at their shards.
It refuses samples converted with different conversion config (thresholds, b-tag working
point, x_extra) or another topology definition, since their columns would not mean the same.
"""

from __future__ import annotations

import os
from pathlib import Path

from evenet.io.manifest import (
    Manifest,
    ManifestError,
    check_replaceable,
    load_manifest,
    manifest_path,
)

_MUST_AGREE = (
    "conversion",
    "readers",
    "shapes",
    "topologies",
    "processes",
    "x_extra",
    "globals_extra",
)


def process_ids(manifest: dict) -> dict[str, int]:
    """Process name -> id, from a manifest's record of the catalogue."""
    return {entry["name"]: int(pid) for pid, entry in manifest.get("processes", {}).items()}


def parse_classes(
    specs: list[str] | None, process_ids: dict[str, int]
) -> list[tuple[str, list[int]]]:
    """``["ttbar=ttbar_dilepton+ttbar_inclusive", "wjets"]`` -> [(class name, process ids)]."""
    classes = []
    for spec in specs or []:
        name, _, members = spec.partition("=")
        names = members.split("+") if members else [name]
        unknown = [m for m in names if m not in process_ids]
        if unknown:
            raise ManifestError(f"--classes: unknown process(es) {', '.join(unknown)} in '{spec}'")
        classes.append((name, [process_ids[m] for m in names]))
    return classes


def build_dataset(
    name: str,
    samples: list[str | os.PathLike],
    output: str | os.PathLike,
    classes: list[str] | list[tuple[str, list[int]]] | None = None,
) -> dict:
    """A dataset manifest in ``output`` over the converted ``samples``; ``classes`` are class
    expressions (``NAME=proc1+proc2`` or a process name, resolved with the samples' own
    record of the catalogue) or resolved (name, process ids) pairs."""
    output = check_replaceable(output, "dataset")
    manifests = [(Path(s), load_manifest(s)) for s in samples]
    if len({manifest_path(s).resolve() for s in samples}) != len(samples):
        raise ManifestError(f"--samples lists a sample twice: {[str(s) for s in samples]}")
    if not manifests:
        raise ManifestError("a dataset needs at least one sample")
    first_path, first = manifests[0]
    if classes and isinstance(classes[0], str):
        classes = parse_classes(classes, process_ids(first))
    for path, manifest in manifests[1:]:
        for key in _MUST_AGREE:
            if manifest.get(key) != first.get(key):
                raise ManifestError(
                    f"sample {path} was converted with a different '{key}' than {first_path}; "
                    "reconvert the samples with one configuration"
                )
    shards, counts, sample_records = [], {}, {}
    for path, manifest in manifests:
        folder = manifest_path(path).parent
        for shard in manifest["shards"]:
            shard = dict(shard)
            shard["path"] = os.path.relpath((folder / shard["path"]).resolve(), output.resolve())
            shards.append(shard)
        for pid, c in manifest["counts"].items():
            counts[pid] = [a + b for a, b in zip(counts.get(pid, [0, 0, 0]), c, strict=True)]
        sample_records.update(manifest["samples"])
    present = sorted(int(p) for p in counts)
    if classes is None:  # one class per simulated process; data (process -1) has no class
        classes = [(str(pid), [pid]) for pid in present if pid >= 0]
    class_map = {str(pid): index for index, (_, pids) in enumerate(classes) for pid in pids}
    with_targets = all(m["has_targets"] for _, m in manifests)
    dataset = Manifest(
        kind="dataset",
        name=name,
        columns=first["columns"],
        shapes=first["shapes"],
        x_extra=first["x_extra"],
        globals_extra=first.get("globals_extra", []),
        topologies=first["topologies"],
        processes=first["processes"],
        splits=first["splits"],
        conversion=first["conversion"],
        readers=first["readers"],
        config_hash=first["config_hash"],
        has_targets=with_targets,
        target_columns=first["target_columns"] if with_targets else [],
        samples=sample_records,
        shards=shards,
        counts={str(p): counts[str(p)] for p in present},
        classes=[name for name, _ in classes],
        class_map=class_map,
        sources=[{"manifest": str(manifest_path(p).resolve())} for p, _ in manifests],
    )
    output.mkdir(parents=True, exist_ok=True)  # only once every check has passed
    dataset.write(output)
    return dataset.to_dict()
