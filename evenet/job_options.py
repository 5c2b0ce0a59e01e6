"""The options each workflow job runs with, resolved from the configuration in one place.

Every rule hands its job the resolved options as one JSON param (``--options
{params.options:q}``). Snakemake tracks params, so this JSON is also the job's fingerprint: a
job reruns exactly when a value it uses changes, and never because another config file
supplied the same values (no rule passes config-file paths). The CLI builds the same options
from ``--config`` files for runs by hand, so both paths share these functions.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from evenet import SCHEMA_VERSION
from evenet.config import ConfigError, conversion_config, merge, shard_events

PREDICT_DEFAULTS = {
    "splits": ["test"],
    "neutrino_samples": 0,
    "diffusion_steps": 25,  # DPM-Solver++(2M) steps (evenet/model/diffusion.py)
    "hypotheses": [],
}


SAMPLE_DEFAULTS = {"steps": 25, "oversample": 1, "batch_size": 4096}


def to_param(options: Mapping[str, Any]) -> str:
    """Canonical JSON (sorted keys, no spaces): equal options give an equal param."""
    return json.dumps(options, sort_keys=True, separators=(",", ":"))


def plain(values: Any) -> Any:
    """``values`` as the job will read them back from JSON (tuples become lists, ...)."""
    return json.loads(json.dumps(values))


def parse(text: str) -> dict:
    """The options of ``--options JSON``; a ConfigError for anything but a JSON object."""
    try:
        options = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--options is not valid JSON: {error}") from None
    if not isinstance(options, dict):
        raise ConfigError("--options must be a JSON object")
    return options


@functools.cache
def _catalogue() -> dict:
    """The process catalogue, read once per workflow (one generate job per shard asks)."""
    from evenet.catalogue import load_catalogue

    return load_catalogue()


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- generation and conversion ---------------------------------------------------------------


def generate(config: Mapping[str, Any], sample: str, shard: int) -> dict:
    """Options of one generation shard: the process's catalogue entry, its events and seed,
    Pythia and detector settings."""
    from evenet.generation.seeds import shard_seed

    process = plain(dataclasses.asdict(_catalogue()[sample]))
    for name in ("b_hadron_filter", "dimuon_filter"):
        if process[name] is None:
            del process[name]  # unfiltered shards keep their options (no rerun)
    generation = config["generation"]
    return {
        "process": process,
        "events": shard_events(config, sample, shard),
        "seed": shard_seed(config["seed"], sample, shard),
        "generation": {
            "pythia_settings": list(generation["pythia_settings"]),
            "batch_size": generation["batch_size"],
        },
        "detector": copy.deepcopy(config["detector"]),
    }


def convert(config: Mapping[str, Any], sample: str, variant: str | None) -> dict:
    """Options of the conversion of one sample: the conversion section with its variant merged,
    the reader settings, and the checksum of the topology definitions the job reads."""
    from evenet.io.topologies import DEFAULT_TOPOLOGIES

    conversion = conversion_config(config, variant)
    # options at their defaults are left out: samples without them keep their job options
    if not conversion.get("globals_extra"):
        conversion.pop("globals_extra", None)
    if sorted(conversion["leptons"].get("flavours", ())) == ["electron", "muon"]:
        conversion["leptons"].pop("flavours")
    if conversion["jets"].get("enabled") is True:
        conversion["jets"].pop("enabled")
    return {
        "schema_version": SCHEMA_VERSION,  # a new data contract reconverts every sample
        "sample": sample,
        "variant": variant or "default",
        "conversion": conversion,
        "readers": copy.deepcopy(config["readers"]),
        "topologies_sha256": _sha256(DEFAULT_TOPOLOGIES),
    }


def check_topologies(options: Mapping[str, Any]) -> None:
    """Refuse a conversion job scheduled with other topology definitions than the file the job
    would read now (the checkout changed between scheduling and running)."""
    from evenet.io.topologies import DEFAULT_TOPOLOGIES

    expected = options.get("topologies_sha256")
    if expected is not None and expected != _sha256(DEFAULT_TOPOLOGIES):
        raise ConfigError(
            f"{DEFAULT_TOPOLOGIES} changed after this job was scheduled; rerun the workflow"
        )


def dataset(config: Mapping[str, Any], name: str) -> dict:
    """Options of one dataset manifest: its name and class map expressions."""
    spec = config["datasets"][name]
    return {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "classes": list(spec.get("classes") or []),
    }


def stats() -> dict:
    """Options of rule stats: nothing is configurable, but the versions of the data contract
    and of stats.json's content are its fingerprint (a new format recomputes every stats.json)."""
    from evenet.io.stats import STATS_FORMAT

    return {"schema_version": SCHEMA_VERSION, "format": STATS_FORMAT}


# --- training and prediction -----------------------------------------------------------------


def pretrain(config: Mapping[str, Any]) -> dict:
    return {"training": copy.deepcopy(config["training"]["pretrain"])}


def run_spec(config: Mapping[str, Any], analysis: str, run: str) -> dict:
    """``analyses.<analysis>.runs.<run>`` (validated, defaults filled)."""
    try:
        return config["analyses"][analysis]["runs"][run]
    except KeyError:
        raise ConfigError(
            f"no fine-tuning run analyses.{analysis}.runs.{run} is configured"
        ) from None


def finetune(
    config: Mapping[str, Any], analysis: str, run: str, mode: str, size: str | int, seed: int
) -> dict:
    """Options of one fine-tuning: training.finetune with the run's override, its tasks, seed
    and training size, and the pretrained heads to load."""
    spec = run_spec(config, analysis, run)
    training = copy.deepcopy(config["training"]["finetune"])
    merge(training, spec["training"])
    if spec["tasks"] is not None:
        training["tasks"] = list(spec["tasks"])
    training["seed"] = int(seed)
    training["train_events"] = 0 if str(size) == "all" else int(size)
    return {
        "analysis": analysis,
        "run": run,
        "mode": mode,
        "dataset": spec["dataset"],
        "training": training,
        "load_heads": list(spec["load_heads"]) if mode == "pretrained" else [],
        "events": _events(spec["events"]),
    }


def _events(events: Mapping[str, Any] | None) -> dict | None:
    """A run's ``events`` for its job options; include_test only when set, so that runs
    written before the key existed keep their options (and are not rerun)."""
    if events is None:
        return None
    events = copy.deepcopy(dict(events))
    if not events.get("include_test"):
        events.pop("include_test", None)
    return events


def predict(config: Mapping[str, Any], analysis: str, run: str) -> dict:
    """Options of the predictions of one fine-tuned model: splits and neutrino sampling."""
    return {**PREDICT_DEFAULTS, **copy.deepcopy(run_spec(config, analysis, run)["predict"])}


def sample(config: Mapping[str, Any], analysis: str, run: str) -> dict:
    """Options of rule sample for one run's models: steps, oversample, batch size."""
    return {**SAMPLE_DEFAULTS, **copy.deepcopy(run_spec(config, analysis, run)["sample"])}


def differences(options: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[str]:
    """'key: default -> value' for every option that differs from its default, sorted."""
    return [
        f"{key}: {defaults.get(key)!r} -> {value!r}"
        for key, value in sorted(options.items())
        if defaults.get(key) != value
    ]


def report(config: Mapping[str, Any]) -> dict:
    """Options of rule report: the whole resolved config (the report fingerprints and lists
    every section, so any change of the config rewrites it)."""
    return {"config": plain(config)}
