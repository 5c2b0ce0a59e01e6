"""Configuration (evenet/config.py, workflow/schemas/config.schema.yaml, config/*.yaml)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from evenet.config import (
    ConfigError,
    default_config_path,
    load_config,
    load_schema,
    samples,
    shard_events,
    shards,
    snakemake_configfiles,
)

REPO = Path(__file__).resolve().parent.parent


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _schema_defaults(schema: dict):
    """The config an empty file yields: every default, recursively."""
    if schema.get("type") == "object" and "properties" in schema:
        return {k: _schema_defaults(v) for k, v in schema["properties"].items()}
    return schema.get("default")


def test_base_config_validates():
    config = load_config([default_config_path()])
    assert config["generation"]["events_per_shard"] > 0
    assert samples(config) == list(config["generation"]["samples"])


@pytest.mark.parametrize("override", ["ci.yaml", "perlmutter.yaml"])
def test_overrides_validate(override):
    load_config([default_config_path(), REPO / "config" / override])


def test_empty_file_gets_every_default_at_every_depth(tmp_path):
    """Nested objects that a file omits entirely are created and filled from the schema."""
    config = load_config([_write(tmp_path / "empty.yaml", "")])
    assert config == _schema_defaults(load_schema())
    assert config["detector"]["jets"]["resolution"]["stochastic"] == 1.0
    assert config["generation"]["only_samples"] is None


def test_partial_nested_object_keeps_values_and_fills_the_rest(tmp_path):
    config = load_config([_write(tmp_path / "c.yaml", "detector: {jets: {radius: 0.8}}\n")])
    assert config["detector"]["jets"]["radius"] == 0.8
    assert config["detector"]["jets"]["min_pt_gev"] == 15.0
    assert config["detector"]["muons"]["efficiency"] == 0.95


def test_schema_defaults_match_config_yaml():
    """Defaults live in the schema and in config/config.yaml; they must not drift apart
    (generation.samples, datasets, conversion_variants, analyses and report.notes excepted:
    their schema default is none at all)."""
    defaults = _schema_defaults(load_schema())
    filled = load_config([default_config_path()])
    assert filled["generation"].pop("samples")
    assert defaults["generation"].pop("samples") == {}
    assert filled.pop("datasets")
    assert defaults.pop("datasets") == {}
    assert filled.pop("conversion_variants")
    assert defaults.pop("conversion_variants") == {}
    assert filled.pop("analyses")
    assert defaults.pop("analyses") == {}
    assert filled["report"].pop("notes")  # the local scale's caveats
    assert defaults["report"].pop("notes") == []
    assert filled == defaults


def test_every_schema_key_is_described():
    def walk(schema, path):
        assert "description" in schema, f"no description at {path or '(top level)'}"
        if path:
            assert "default" in schema, f"no default at {path}"
        if schema.get("type") == "object":
            assert "additionalProperties" in schema, f"{path}: unknown keys must be refused"
        for key, sub in schema.get("properties", {}).items():
            walk(sub, f"{path}.{key}".lstrip("."))

    walk(load_schema(), "")


def test_unknown_key_error_names_key_and_file(tmp_path):
    """A mistyped key must fail loudly, naming the key path, the allowed keys and the file."""
    bad = _write(tmp_path / "bad.yaml", "detector:\n  jets:\n    radus: 0.5\n")
    with pytest.raises(ConfigError) as info:
        load_config([default_config_path(), bad])
    message = str(info.value)
    assert "'detector.jets.radus'" in message
    assert "allowed: radius" in message
    assert str(bad) in message


def test_unknown_top_level_key(tmp_path):
    bad = _write(tmp_path / "bad.yaml", "outptu_dir: x\n")
    with pytest.raises(ConfigError, match="'outptu_dir' is not allowed"):
        load_config([default_config_path(), bad])


def test_wrong_type_error_names_key_and_file(tmp_path):
    bad = _write(tmp_path / "bad.yaml", "generation:\n  events_per_shard: many\n")
    with pytest.raises(ConfigError) as info:
        load_config([default_config_path(), bad])
    message = str(info.value)
    assert "'generation.events_per_shard' must be of type integer" in message
    assert str(bad) in message
    assert ValueError in type(info.value).__mro__


@pytest.mark.parametrize(
    "text, key",
    [
        ("generation: {samples: {ww: 0}}", "generation.samples.ww"),
        ("generation: {samples: {ww: 1.5}}", "generation.samples.ww"),
        ("generation: {events_per_shard: 0}", "generation.events_per_shard"),
        ("detector: {btag: {efficiency_b: 1.5}}", "detector.btag.efficiency_b"),
        ("generation: {only_samples: [nope]}", "generation.only_samples"),
    ],
)
def test_invalid_values_are_refused(tmp_path, text, key):
    bad = _write(tmp_path / "bad.yaml", text + "\n")
    with pytest.raises(ConfigError, match=rf"'{key}'"):
        load_config([default_config_path(), bad])


def test_later_files_override_earlier_ones(tmp_path):
    first = _write(tmp_path / "a.yaml", "seed: 1\ngeneration: {samples: {ww: 10}}\n")
    second = _write(tmp_path / "b.yaml", "seed: 2\ngeneration: {samples: {zz: 20}}\n")
    config = load_config([first, second])
    assert config["seed"] == 2
    assert config["generation"]["samples"] == {"ww": 10, "zz": 20}  # mappings merge


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config([tmp_path / "nope.yaml"])
    with pytest.raises(ConfigError, match="mapping"):
        load_config([_write(tmp_path / "list.yaml", "- 1\n")])


def _gen(samples_, per_shard=100, only=None):
    return {
        "generation": {"samples": samples_, "events_per_shard": per_shard, "only_samples": only}
    }


@pytest.mark.parametrize(
    "total, expected",
    [
        (250, [(0, 100), (1, 100), (2, 50)]),
        (200, [(0, 100), (1, 100)]),
        (100, [(0, 100)]),
        (1, [(0, 1)]),
    ],
)
def test_shards_last_takes_remainder(total, expected):
    config = _gen({"ww": total})
    assert shards(config, "ww") == expected
    assert sum(n for _, n in shards(config, "ww")) == total
    assert shard_events(config, "ww", len(expected) - 1) == expected[-1][1]


def test_shards_of_unselected_sample_and_bad_index():
    config = _gen({"ww": 100, "zz": 100}, only=["ww"])
    assert samples(config) == ["ww"]
    with pytest.raises(ConfigError):
        shards(config, "zz")
    with pytest.raises(ConfigError):
        shard_events(config, "ww", 1)


def test_ci_config_is_tiny():
    """CI must stay at hundreds of events: config/config.yaml's other samples are excluded."""
    config = load_config([default_config_path(), REPO / "config" / "ci.yaml"])
    filtered = ["dimuon_dy_boosted", "upsilon_boosted"]  # events tried; ~8% / 3.5% are kept
    assert samples(config) == ["ttbar_dilepton", "haa_4b_ma30", "dimuon_lowmass", *filtered]
    counts = config["generation"]["samples"]
    assert sum(counts[s] for s in samples(config) if s not in filtered) <= 1000
    assert sum(counts[s] for s in filtered) <= 5000


def test_snakemake_configfiles_in_merge_order():
    """workflow.configfiles lists --configfile files before the Snakefile's own; jobs must get
    them in merge order or the base config would override the profile's."""
    workflow = SimpleNamespace(
        configfiles=[Path("/r/config/ci.yaml"), "/r/config/config.yaml"],
        overwrite_configfiles=[Path("/r/config/ci.yaml")],
    )
    assert snakemake_configfiles(workflow) == ["/r/config/config.yaml", "/r/config/ci.yaml"]


# --- process catalogue -----------------------------------------------------------------------


def _catalogue():
    with open(REPO / "config" / "processes.yaml") as f:
        return yaml.safe_load(f)["processes"]


def test_every_configured_sample_is_a_catalogue_process():
    processes = _catalogue()
    for name in ("config.yaml", "ci.yaml", "perlmutter.yaml"):
        with open(REPO / "config" / name) as f:
            configured = (yaml.safe_load(f).get("generation") or {}).get("samples") or {}
        missing = sorted(set(configured) - set(processes))
        assert not missing, f"config/{name} names processes not in config/processes.yaml: {missing}"


def test_process_ids_unique():
    ids = [entry["id"] for entry in _catalogue().values()]
    assert len(ids) == len(set(ids)), f"duplicate process ids: {ids}"
    assert all(isinstance(i, int) and i >= 0 for i in ids)


def test_dataset_naming_an_ungenerated_sample_is_an_error(tmp_path):
    """A dataset must only list samples the configuration generates (else convert has no input)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets:\n  mine:\n    samples: [ttbar_dilepton, not_generated]\n")
    with pytest.raises(ConfigError, match="not_generated"):
        load_config([default_config_path(), bad])


def test_conversion_variant_merges_onto_the_base_and_is_validated(tmp_path):
    """A variant changes only what it names; a mistyped key inside it is an error."""
    from evenet.config import conversion_config

    config = load_config([default_config_path()])
    anomaly = conversion_config(config, "anomaly")
    assert anomaly["leptons"]["max_isolation"] is None and anomaly["x_extra"] == ["iso", "ip3d"]
    assert anomaly["jets"] == {**config["conversion"]["jets"], "enabled": False}
    assert (
        anomaly["leptons"]["muon_max_abs_eta"]
        == config["conversion"]["leptons"]["muon_max_abs_eta"]
    )
    assert conversion_config(config, None) == config["conversion"]
    with pytest.raises(ConfigError, match="unknown conversion variant"):
        conversion_config(config, "nope")
    bad = _write(
        tmp_path / "bad.yaml", "conversion_variants:\n  x:\n    leptons:\n      min_pt: 3\n"
    )
    with pytest.raises(ConfigError, match="min_pt"):
        conversion_config(load_config([default_config_path(), bad]), "x")


def test_task_names_have_one_list_per_language():
    """The schema's $defs.task is the only list of head names in YAML (every tasks key refers
    to it) and equals the model's; pretraining's default tasks are one tuple in Python."""
    from evenet.model.config import PRETRAINING_TASKS, TASKS, ModelConfig
    from evenet.train.options import TrainOptions

    schema = load_schema()
    assert schema["$defs"]["task"]["enum"] == list(TASKS)
    text = (REPO / "workflow" / "schemas" / "config.schema.yaml").read_text()
    assert (
        text.count("neutrino_generation, masked_generation, global_generation, object_generation")
        == 1
    )
    pretrain = schema["properties"]["training"]["properties"]["pretrain"]["properties"]
    assert pretrain["tasks"]["default"] == list(PRETRAINING_TASKS)
    assert ModelConfig().tasks == TrainOptions().tasks == PRETRAINING_TASKS


def test_an_unknown_task_is_refused_in_analysis_runs_too(tmp_path):
    bad = _write(
        tmp_path / "bad.yaml", "analyses: {haa: {runs: {main: {tasks: [clasification]}}}}\n"
    )
    with pytest.raises(ConfigError, match=r"analyses\.haa\.runs\.main\.tasks\.0"):
        load_config([default_config_path(), bad])


@pytest.mark.parametrize(
    "text, key",
    [
        # issue 12 §5: a class expression reached `rule dataset`'s shell unquoted
        (
            'datasets: {haa: {classes: ["haa_4b_ma30; touch INJECTED; echo"]}}',
            "datasets.haa.classes.0",
        ),
        ('datasets: {haa: {classes: ["a\'b"]}}', "datasets.haa.classes.0"),
        # issue 12 §6: names that become folders must not climb out of output_dir
        ('datasets: {"../escaped": {samples: [ttbar_dilepton]}}', "datasets"),
        ('conversion_variants: {"../x": {x_extra: []}}', "conversion_variants"),
        ('analyses: {haa: {runs: {"../x": {dataset: haa}}}}', "analyses.haa.runs"),
        ("datasets: {qe: {samples: [ttbar_dilepton, ttbar_dilepton]}}", "datasets.qe.samples"),
    ],
)
def test_values_that_reach_the_shell_or_a_path_are_refused(tmp_path, text, key):
    bad = _write(tmp_path / "bad.yaml", text + "\n")
    with pytest.raises(ConfigError, match=rf"'{re.escape(key)}"):
        load_config([default_config_path(), bad])


def test_job_options_survive_the_shell_verbatim():
    """Every config value a job uses travels as one shell-quoted JSON word (`{params.options:q}`):
    quotes, semicolons and spaces arrive unchanged and run nothing."""
    import json
    import shlex

    from evenet import job_options

    options = {"classes": ["a; touch INJECTED; echo", 'it\'s "quoted"', "$(id)", "a b"]}
    command = "evenet dataset --options " + shlex.quote(job_options.to_param(options))
    words = shlex.split(command)
    assert len(words) == 4 and json.loads(words[3]) == options
