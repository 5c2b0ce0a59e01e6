"""The analyses that plug into the workflow: one package ``analyses/<name>/`` per key of the
config section ``analyses`` (DESIGN.md "Analyses").

A package holds README.md, rules.smk (rules ``<name>_*`` and ``<name>_all``), schema.yaml (its
config section), paths.py, its code and tests. The Snakefile includes the rules of every
enabled analysis; this module says which those are and validates each section against the
package's schema.yaml plus the keys every analysis has (workflow/schemas/analysis.schema.yaml:
``enabled`` and ``runs``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from evenet.yaml_io import parse_yaml

_REPO = Path(__file__).resolve().parent.parent
ANALYSES_DIR = _REPO / "analyses"
COMMON_SCHEMA = _REPO / "workflow" / "schemas" / "analysis.schema.yaml"
# Run keys that come from elsewhere: `seeds` and `sizes` make one run per value.
RUN_OWNED_TRAINING_KEYS = {"seed": "seeds", "train_events": "sizes"}


def package_dir(name: str) -> Path:
    return ANALYSES_DIR / name


def rules_file(name: str) -> Path:
    """analyses/<name>/rules.smk, which the Snakefile includes for an enabled analysis."""
    return package_dir(name) / "rules.smk"


def schema_file(name: str) -> Path:
    return package_dir(name) / "schema.yaml"


def enabled(config: Mapping[str, Any]) -> list[str]:
    """Analyses whose rules run, in config order (``enabled: false`` leaves one out)."""
    return [
        name
        for name, section in (config.get("analyses") or {}).items()
        if (section or {}).get("enabled", True) is not False
    ]


def all_targets(rules: Any, config: Mapping[str, Any]) -> list:
    """The inputs of every enabled ``<name>_all`` rule, for ``rule all``."""
    return [getattr(rules, f"{name}_all").input for name in enabled(config)]


def runs(config: Mapping[str, Any], analysis: str) -> dict[str, dict]:
    """The validated ``runs`` of one analysis: run name -> settings (defaults filled)."""
    return config["analyses"][analysis]["runs"]


def load_schema(name: str) -> dict:
    """The schema of ``analyses.<name>``: the package's schema.yaml with the common keys added."""
    from evenet.config import ConfigError
    from evenet.config import load_schema as central_schema

    path = schema_file(name)
    if not package_dir(name).is_dir():
        known = sorted(p.name for p in ANALYSES_DIR.iterdir() if (p / "schema.yaml").is_file())
        raise ConfigError(
            f"config key 'analyses.{name}' names no analysis package: {package_dir(name)} does "
            f"not exist (analyses: {', '.join(known) or 'none'})"
        )
    try:
        own = parse_yaml(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"analysis '{name}' has no readable schema {path}: {error}") from None
    if not isinstance(own, dict) or own.get("type") != "object":
        raise ConfigError(f"{path}: the schema of an analysis section must be of type object")
    common = parse_yaml(COMMON_SCHEMA.read_text(encoding="utf-8"))
    schema = copy.deepcopy(own)
    properties = schema.setdefault("properties", {})
    clash = sorted(set(properties) & set(common["properties"]))
    if clash:
        raise ConfigError(
            f"{path}: keys {clash} are common to every analysis; do not redefine them"
        )
    properties.update(copy.deepcopy(common["properties"]))
    shared = copy.deepcopy(central_schema().get("$defs", {}))  # e.g. the task names
    schema["$defs"] = {**shared, **schema.get("$defs", {})}
    schema.setdefault("additionalProperties", False)
    schema.setdefault("default", {})
    return schema


def validate_sections(config: dict, origin: Mapping[tuple[str, ...], list[str]]) -> None:
    """Fill defaults into every ``analyses.<name>`` section and validate it (in place).

    Raises ConfigError naming the key path, the file that set it and the schema file.
    """
    from evenet.config import ConfigError, default_filling_validator, describe_error

    sections = config.setdefault("analyses", {})
    messages: list[str] = []
    for name in list(sections):
        if sections[name] is None:
            sections[name] = {}
        schema = load_schema(name)
        validator = default_filling_validator(schema)
        errors = sorted(
            validator.iter_errors(sections[name]), key=lambda e: [str(p) for p in e.absolute_path]
        )
        where = (
            f" (schema {schema_file(name).relative_to(_REPO)} with "
            f"{COMMON_SCHEMA.relative_to(_REPO)})"
        )
        for error in errors:
            messages += [m + where for m in describe_error(error, origin, ("analyses", name))]
        if not errors:
            messages += _check_runs(config, name, origin)
    if messages:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(messages))


def _check_runs(config: dict, name: str, origin: Mapping) -> list[str]:
    """What the schema cannot say about runs: datasets exist, training overrides are
    training.finetune keys (and not the ones seeds and sizes own)."""
    from evenet.config import describe_error, where
    from evenet.config import load_schema as central_schema

    central = central_schema()
    # with the central $defs: its keys refer to them (tasks -> $defs.task)
    finetune = {**central["properties"]["training"]["properties"]["finetune"]}
    finetune["$defs"] = central["$defs"]
    messages = []
    for run, spec in config["analyses"][name]["runs"].items():
        path = ("analyses", name, "runs", run)
        if spec["dataset"] not in config.get("datasets", {}):
            messages.append(
                f"config key '{'.'.join(path)}.dataset' names dataset '{spec['dataset']}', which "
                f"is not in `datasets` ({', '.join(config.get('datasets', {})) or 'none'})"
                f"{where((*path, 'dataset'), origin)}"
            )
        for key, owner in RUN_OWNED_TRAINING_KEYS.items():
            if key in spec["training"]:
                messages.append(
                    f"config key '{'.'.join(path)}.training.{key}' is not allowed: it comes from "
                    f"the run's `{owner}`{where((*path, 'training', key), origin)}"
                )
        validator = jsonschema.Draft202012Validator(finetune)  # no defaults: an override
        for error in validator.iter_errors(spec["training"]):
            messages += describe_error(error, origin, (*path, "training"))
    return messages
