"""Workflow configuration: layered YAML files, schema defaults, validation, shard bookkeeping.

The configuration is config/config.yaml (the embedded default) plus optional override files
(config/ci.yaml, config/perlmutter.yaml, a user's own), deep-merged in order exactly as
Snakemake merges ``configfile``/``--configfile``: mappings merge key by key, every other
value (lists included) is replaced. The merged result is completed with the defaults of
workflow/schemas/config.schema.yaml and validated against it. The Snakefile does the same
with ``snakemake.utils.validate``; the helpers ``samples``/``shards`` here are shared by the
workflow and the CLI, so both see the same sample set and shard sizes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from evenet.errors import EvenetError
from evenet.yaml_io import parse_yaml

_REPO = Path(__file__).resolve().parent.parent

KeyPath = tuple[str, ...]


class ConfigError(EvenetError, ValueError):
    """Invalid configuration; the message names the offending key path and file(s)."""


def schema_path() -> Path:
    """The JSON schema (YAML) of the configuration, workflow/schemas/config.schema.yaml.

    It lives beside the workflow, outside the package: this resolves for a source checkout
    or an editable install (`pip install -e .`), which is how the pipeline is installed.
    """
    return _REPO / "workflow" / "schemas" / "config.schema.yaml"


def default_config_path() -> Path:
    """The embedded default configuration, config/config.yaml (local scale)."""
    return _REPO / "config" / "config.yaml"


def load_schema() -> dict:
    """The configuration schema as a dict, with the training sections completed: their keys
    from $defs.training_options, their defaults from evenet.train.options (one owner each)."""
    from evenet.train.options import section_defaults as training_defaults

    with open(schema_path(), encoding="utf-8") as f:
        schema = parse_yaml(f)
    keys = schema["$defs"]["training_options"]["properties"]
    training = schema["properties"]["training"]["properties"]
    for section in ("pretrain", "finetune"):
        defaults = training_defaults(section)
        if set(defaults) != set(keys):
            raise ConfigError(
                f"{schema_path()}: $defs.training_options lists {sorted(keys)}, but "
                f"evenet.train.options has {sorted(defaults)}"
            )
        training[section]["properties"] = {
            key: {**copy.deepcopy(spec), "default": defaults[key]} for key, spec in keys.items()
        }
    return schema


def load_config(paths: Iterable[str | Path]) -> dict:
    """Deep-merge the YAML files ``paths`` in order, fill schema defaults and validate.

    Raises ConfigError naming the key path and the file(s) that set it, e.g.
    "config key 'detector.jets.radus' is not allowed (unknown or mistyped key; allowed:
    radius, ...) [in config/ci.yaml]".
    """
    paths = [Path(p) for p in paths]
    merged: dict = {}
    origin: dict[KeyPath, list[str]] = {}
    for path in paths:
        layer = _read_yaml(path)
        _merge(merged, layer, (), str(path), origin)
    return validate(merged, origin=origin)


def section_defaults(*path: str) -> dict:
    """The schema defaults of the keys of one config section, e.g. ("training", "finetune")."""
    schema = load_schema()
    for key in path:
        schema = schema["properties"][key]
    return {k: copy.deepcopy(v.get("default")) for k, v in schema["properties"].items()}


def validate(config: dict, origin: Mapping[KeyPath, list[str]] | None = None) -> dict:
    """Fill schema defaults into ``config`` in place, validate it and return it.

    ``origin`` maps key paths to the files that set them (for error messages).
    """
    from evenet.analyses import validate_sections

    origin = origin or {}
    schema = load_schema()
    validator = _DefaultFillingValidator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        messages = []
        for error in errors:
            messages.extend(describe_error(error, origin))
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(messages))
    validate_sections(config, origin)
    # Cross-key check the schema cannot express: only_samples names configured samples.
    try:
        samples(config)
    except ConfigError as e:
        raise ConfigError(f"{e}{where(('generation', 'only_samples'), origin)}") from None
    generated = set(samples(config)) | set(data_samples(config))
    for name, dataset in config.get("datasets", {}).items():
        variant = dataset.get("variant")
        if variant not in (None, DEFAULT_VARIANT) and variant not in config.get(
            "conversion_variants", {}
        ):
            raise ConfigError(
                f"config key 'datasets.{name}.variant' names an unknown conversion variant "
                f"'{variant}'{where(('datasets', name), origin)}"
            )
        missing = [s for s in dataset["samples"] if s not in generated]
        if missing:
            raise ConfigError(
                f"config key 'datasets.{name}.samples' names sample(s) {', '.join(missing)} "
                f"that this configuration neither generates nor reads from cms_data"
                f"{where(('datasets', name), origin)}"
            )
    return config


DATA_SIGNS = ("os", "ss")  # the two samples of a cms_data entry: opposite and same sign


def data_samples(config: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Sample name -> (cms_data entry, sign) of every real-data sample."""
    return {
        f"{name}_{sign}": (name, sign)
        for name in config.get("cms_data") or {}
        for sign in DATA_SIGNS
    }


def samples(config: Mapping[str, Any]) -> list[str]:
    """Names of the samples to generate, in config order (generation.only_samples honoured)."""
    generation = config["generation"]
    configured = list(generation["samples"])
    only = generation.get("only_samples")
    if only is None:
        return configured
    unknown = [name for name in only if name not in generation["samples"]]
    if unknown:
        raise ConfigError(
            f"config key 'generation.only_samples' names sample(s) {', '.join(unknown)} that "
            f"are not in generation.samples (configured: {', '.join(configured) or 'none'})"
        )
    return list(only)


def shards(config: Mapping[str, Any], sample: str) -> list[tuple[int, int]]:
    """(shard index, events in that shard) for ``sample``; the last shard takes the remainder.

    E.g. 250 events with events_per_shard 100 -> [(0, 100), (1, 100), (2, 50)].
    """
    if sample not in samples(config):
        raise ConfigError(
            f"sample {sample!r} is not generated by this configuration "
            f"(samples: {', '.join(samples(config))})"
        )
    total = int(config["generation"]["samples"][sample])
    per_shard = int(config["generation"]["events_per_shard"])
    count = math.ceil(total / per_shard)
    return [(i, min(per_shard, total - i * per_shard)) for i in range(count)]


def shard_events(config: Mapping[str, Any], sample: str, shard: int) -> int:
    """Number of events in shard ``shard`` of ``sample``."""
    table = dict(shards(config, sample))
    if shard not in table:
        raise ConfigError(f"sample {sample!r} has shards 0..{len(table) - 1}, not {shard}")
    return table[shard]


def config_origin(paths: Iterable[str | Path]) -> dict[KeyPath, list[str]]:
    """Key path -> the files among ``paths`` that set it, for error messages about a config
    that was merged elsewhere (Snakemake's ``config``)."""
    origin: dict[KeyPath, list[str]] = {}
    for path in paths:
        _merge({}, _read_yaml(Path(path)), (), str(path), origin)
    return origin


def snakemake_configfiles(workflow: Any) -> list[str]:
    """The config files of a Snakemake run in merge order, to hand on to jobs.

    Snakemake merges the Snakefile's ``configfile:`` first and the command-line
    ``--configfile`` files (profiles included) over it, but ``workflow.configfiles`` lists the
    command-line files first; this puts them back in merge order. ``--config KEY=VALUE``
    overrides are not files and do not reach the jobs: put such overrides in a file.
    """
    cli = [str(p) for p in workflow.overwrite_configfiles]
    directive = [str(p) for p in workflow.configfiles if str(p) not in cli]
    return directive + cli


# --------------------------------------------------------------------------------------------
# internals


def _read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = parse_yaml(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, not {type(data).__name__}")
    return data


def merge(base: dict, layer: Mapping) -> dict:
    """Merge ``layer`` into ``base`` in place as config files merge (mappings key by key,
    everything else replaced); returns ``base``."""
    _merge(base, layer, (), "", {})
    return base


def _merge(base: dict, layer: Mapping, prefix: KeyPath, source: str, origin: dict) -> None:
    """Merge ``layer`` into ``base`` recursively (Snakemake's update_config semantics)."""
    for key, value in layer.items():
        path = (*prefix, str(key))
        origin.setdefault(path, []).append(source)
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, path, source, origin)
        elif isinstance(value, Mapping):
            base[key] = {}
            _merge(base[key], value, path, source, origin)
        else:
            base[key] = copy.deepcopy(value)


def _extend_with_defaults(validator_class):
    """A validator that sets each missing property to (a copy of) its schema default first.

    Objects default to {} in the schema, so validation then descends into them and fills
    their children in turn: defaults are filled at every depth.
    """
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultFillingValidator = _extend_with_defaults(jsonschema.Draft202012Validator)


def default_filling_validator(schema: dict) -> jsonschema.protocols.Validator:
    """A validator of ``schema`` that fills defaults into the instance it checks."""
    return _DefaultFillingValidator(schema)


def _dotted(path: Iterable) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def where(path: KeyPath, origin: Mapping[KeyPath, list[str]], effective: bool = False) -> str:
    """' [in file, ...]' for the innermost key of ``path`` that some file set.

    ``effective``: name only the last such file, the one whose value won the merge.
    """
    for end in range(len(path), 0, -1):
        files = list(dict.fromkeys(origin.get(tuple(path[:end]), [])))
        if files:
            return f" [value from {files[-1]}]" if effective else f" [in {', '.join(files)}]"
    return " [schema default]" if path else ""


def describe_error(
    error: jsonschema.ValidationError, origin: Mapping, prefix: KeyPath = ()
) -> list[str]:
    """One message per offending key: its dotted path (below ``prefix``) and its file."""
    path = (*prefix, *(str(p) for p in error.absolute_path))
    if error.validator == "additionalProperties" and error.validator_value is False:
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        return [
            f"config key '{_dotted((*path, k))}' is not allowed (unknown or mistyped key; "
            f"allowed: {', '.join(allowed)}){where((*path, str(k)), origin)}"
            for k in extra
        ]
    source = where(path, origin, effective=True)
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        got = f"{error.instance!r} ({type(error.instance).__name__})"
        return [f"config key '{_dotted(path)}' must be of type {expected}, got {got}{source}"]
    return [f"config key '{_dotted(path)}': {error.message}{source}"]


def fingerprint(*parts: Any) -> str:
    """Short stable hash of config values, for rule params: Snakemake reruns a job when a
    param changes, so a job's fingerprint covers every setting that shapes its output."""
    import hashlib
    import json

    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


DEFAULT_VARIANT = "default"


def conversion_config(config: Mapping[str, Any], variant: str | None = None) -> dict:
    """The ``conversion`` section with a named variant of ``conversion_variants`` merged on top.

    Analyses that need other objects than pretraining (e.g. anti-isolated muons with their
    isolation and impact parameter) name a variant; the merged section is validated again.
    """
    base = copy.deepcopy(dict(config["conversion"]))
    if variant in (None, DEFAULT_VARIANT):
        return base
    variants = config.get("conversion_variants", {})
    if variant not in variants:
        raise ConfigError(
            f"unknown conversion variant '{variant}' (configured: "
            f"{', '.join(variants) or 'none'}; add it under conversion_variants)"
        )
    _merge(base, variants[variant], ("conversion",), f"conversion_variants.{variant}", {})
    merged = copy.deepcopy(dict(config))
    merged["conversion"] = base
    validate(merged)
    return base
