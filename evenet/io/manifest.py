"""manifest.json of a converted sample or a dataset: what the shards hold and where they are.

Layout (JSON):
  schema_version   int, must equal evenet.SCHEMA_VERSION
  kind             "sample" (one converted sample) or "dataset" (samples + a task's class map)
  name             sample or dataset name
  columns          [{name, dtype, shape, features?, units?, transforms?}]
  shapes           {"R", "D", "P", "K"}
  has_targets      bool: the target columns exist (truth was available)
  topologies       [{id, name, resonances, symmetries, neutrinos, partons, processes}]
                   (config/topologies.yaml order; processes: the names that may have it)
  processes        {"<process id>": {name, category}}: the catalogue the sample was converted
                   with (config/processes.yaml); training reads names and categories here
  samples          {name: {process, xsec_pb, sum_weights, generated, events, has_targets}}
                   (generated: events before a generator filter, written ones without)
  shards           [{path (relative to the manifest's folder), sample, rows, sha256,
                     row_groups: [{rows, splits: [n_train, n_val, n_test]}]}]
  counts           {"<process id>": [n_train, n_val, n_test]}
  class_map        datasets only: {"<process id>": class index}
  conversion       the conversion config (thresholds, b-tag working point, x_extra names)
  x_extra, globals_extra  names of the extra per-object and per-event columns (may be empty)
  config_hash, code_version, sources [{path, sha256}]
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from evenet import SCHEMA_VERSION, __version__
from evenet.errors import EvenetError
from evenet.io.temporaries import temporary as temporary_name

MANIFEST_NAME = "manifest.json"
STATS_NAME = "stats.json"


class ManifestError(EvenetError, ValueError):
    """A manifest is missing, malformed or of another schema version."""


@dataclass
class Manifest:
    """One manifest.json, the only way one is built (conversion, `evenet dataset`, selected
    events, synthetic test data): every key named once, with its type. Written as JSON by
    ``write``; ``load_manifest`` checks a file against these fields."""

    kind: str  # "sample" or "dataset"
    name: str
    columns: list[dict]
    shapes: dict[str, int]  # R, D, P, K
    topologies: list[dict]
    processes: dict[str, dict]  # "<id>": {name, category} (evenet.catalogue.manifest_record)
    samples: dict[str, dict]
    shards: list[dict]
    counts: dict[str, list[int]]
    conversion: dict
    has_targets: bool
    target_columns: list[str]
    x_extra: list[str] = field(default_factory=list)
    globals_extra: list[str] = field(default_factory=list)
    readers: dict = field(default_factory=dict)
    config_hash: str = ""
    sources: list[dict] = field(default_factory=list)
    classes: list[str] | None = None  # datasets: class names in order
    class_map: dict[str, int] | None = None  # datasets: "<process id>" -> class index
    selection: dict | None = None  # datasets of selected events (evenet.io.selection)
    splits: list[str] = field(default_factory=lambda: ["train", "val", "test"])
    schema_version: int = SCHEMA_VERSION
    code_version: str = __version__

    def to_dict(self) -> dict:
        values = asdict(self)
        optional = ("classes", "class_map", "selection")  # absent rather than null
        return {k: v for k, v in values.items() if not (k in optional and v is None)}

    @classmethod
    def from_dict(cls, values: dict, where: str = "manifest") -> Manifest:
        names = {f.name for f in fields(cls)}
        required = {
            f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
        }
        missing = sorted(required - set(values))
        unknown = sorted(set(values) - names)
        if missing or unknown:
            raise ManifestError(
                f"{where} is not a manifest of this code: missing {missing}, unknown {unknown}"
            )
        return cls(**values)

    def write(self, folder: str | os.PathLike) -> Path:
        """manifest.json in ``folder``, written atomically."""
        path = Path(folder) / MANIFEST_NAME
        write_json_atomic(path, self.to_dict())
        return path


@dataclass(frozen=True)
class RowGroup:
    rows: int
    splits: tuple[int, int, int]  # events per split (train, val, test)


@dataclass(frozen=True)
class ShardEntry:
    path: Path  # absolute
    sample: str
    rows: int
    row_groups: tuple[RowGroup, ...]
    sha256: str = ""
    bytes: int = -1  # size when the shard was written (-1: not recorded)
    mtime_ns: int = -1  # modification time when the shard was written


def file_record(path: Path) -> dict:
    """What a manifest records of a shard file: sha256, size and modification time."""
    status = Path(path).stat()
    return {"sha256": sha256_file(path), "bytes": status.st_size, "mtime_ns": status.st_mtime_ns}


def check_shards(entries: list[ShardEntry], manifest_file: Path, verify: bool = False) -> None:
    """Every shard is there and unchanged since the manifest listed it: size and modification
    time (cheap, on every open for training), or the full sha256 (``verify``). A sample
    reconverted after its dataset was built is refused instead of silently trained on."""
    for entry in entries:
        if not entry.path.is_file():
            raise ManifestError(f"shard {entry.path} listed in {manifest_file} is missing")
        status = entry.path.stat()
        changed = entry.bytes >= 0 and (
            status.st_size != entry.bytes or status.st_mtime_ns != entry.mtime_ns
        )
        if verify and entry.sha256 and sha256_file(entry.path) != entry.sha256:
            changed = True
        elif verify:
            changed = False  # same content: a copy that did not keep the modification time
        if changed:
            raise ManifestError(
                f"shard {entry.path} changed after {manifest_file} listed it (reconverted or "
                "edited): rebuild the dataset (`evenet dataset`, or rerun the workflow); "
                "`evenet dataset --verify` compares contents"
            )


def manifest_path(location: str | os.PathLike) -> Path:
    """A manifest file, or the folder holding manifest.json."""
    location = Path(location)
    return location / MANIFEST_NAME if location.is_dir() else location


def load_manifest(location: str | os.PathLike) -> dict:
    path = manifest_path(location)
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"no manifest at {path}") from None
    except (OSError, json.JSONDecodeError) as error:
        raise ManifestError(f"cannot read manifest {path}: {error}") from None
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ManifestError(
            f"{path} has schema version {version}; this code reads version {SCHEMA_VERSION} "
            "(reconvert the sample)"
        )
    Manifest.from_dict(manifest, where=str(path))  # every key known, none missing
    return manifest


def shard_entries(manifest: dict, location: str | os.PathLike) -> list[ShardEntry]:
    """The shards of a manifest with absolute paths (relative ones resolve from its folder)."""
    folder = manifest_path(location).parent
    entries = []
    for shard in manifest["shards"]:
        path = Path(shard["path"])
        entries.append(
            ShardEntry(
                path=path if path.is_absolute() else (folder / path).resolve(),
                sample=shard["sample"],
                rows=int(shard["rows"]),
                row_groups=tuple(
                    RowGroup(int(g["rows"]), tuple(int(n) for n in g["splits"]))
                    for g in shard["row_groups"]
                ),
                sha256=str(shard.get("sha256", "")),
                bytes=int(shard.get("bytes", -1)),
                mtime_ns=int(shard.get("mtime_ns", -1)),
            )
        )
    return entries


def check_replaceable(
    output: str | os.PathLike, kind: str, inputs: list[str | os.PathLike] = ()
) -> Path:
    """``output`` (resolved) if a command writing a ``kind`` manifest may (re)write it: a new
    or empty folder, or one holding such a manifest (an earlier output of the same command).
    Anything else (a file, a folder of other files, a folder holding the inputs) is refused,
    so that replacing an output never deletes what the user keeps there."""
    output = Path(output).resolve()
    if output.exists() and not output.is_dir():
        raise ManifestError(f"--output {output} is a file, not a folder: give a new folder")
    here = Path.cwd().resolve()
    if output == here or output in here.parents:
        raise ManifestError(
            f"--output {output} is the current folder or holds it: give a new folder below it"
        )
    for path in inputs:
        resolved = Path(path).resolve()
        if resolved == output or output in resolved.parents:
            raise ManifestError(
                f"the input {path} lies inside the output folder {output}: write elsewhere"
            )
    # stats.json alone: a dataset whose manifest.json the workflow removed before a rerun
    leftovers = {STATS_NAME}
    if output.is_dir() and {p.name for p in output.iterdir()} - leftovers:
        try:
            found = json.loads((output / MANIFEST_NAME).read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            found = None
        if found != kind:
            raise ManifestError(
                f"refusing to replace {output}: it holds files but no {kind} manifest.json of "
                "an earlier run of this command; give a new or empty folder"
            )
    return output


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON to a temporary name beside ``path`` and rename it into place."""
    path = Path(path)
    temporary = temporary_name(path)
    temporary.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    os.replace(temporary, path)


def sha256_file(path: str | os.PathLike) -> str:
    """Checksum recorded for shards and source files in manifests."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
