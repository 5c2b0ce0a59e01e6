"""Output paths of the workflow (evenet/paths.py): patterns, concrete paths, target lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evenet import paths
from evenet.config import default_config_path, load_config, samples, shards

REPO = Path(__file__).resolve().parent.parent


def _config(tmp_path, samples=None, events_per_shard=100, only=None):
    config = load_config([default_config_path()])
    config["output_dir"] = str(tmp_path / "out")
    if samples is not None:
        config["generation"]["samples"] = samples
    config["generation"]["events_per_shard"] = events_per_shard
    config["generation"]["only_samples"] = only
    return config


def _pattern_regex(pattern: str) -> re.Pattern:
    """Snakemake-like parse of a wildcard pattern with the workflow's constraints."""
    regex, seen = "", set()
    for literal, name in re.findall(r"([^{]*)(?:\{(\w+)\})?", pattern):
        regex += re.escape(literal)
        if name:
            constraint = paths.WILDCARD_CONSTRAINTS[name]
            regex += f"(?P={name})" if name in seen else f"(?P<{name}>{constraint})"
            seen.add(name)
    return re.compile(regex + "$")


@pytest.mark.parametrize("sample, shard", [("ttbar_dilepton", 0), ("haa_4b_ma30", 7), ("x", 1234)])
def test_ntuple_pattern_round_trips(tmp_path, sample, shard):
    """A concrete ntuple parsed with the rule's pattern gives back (sample, shard), and the
    pattern formatted with those wildcards is the same file (guards a rule output that the
    generate_all targets never match)."""
    config = _config(tmp_path)
    concrete = paths.ntuple(config, sample, shard)
    pattern = paths.ntuple_pattern(config)
    match = _pattern_regex(pattern).match(str(concrete))
    assert match, (pattern, concrete)
    assert match["sample"] == sample and int(match["shard"]) == shard
    assert pattern.format(**match.groupdict()) == str(concrete)
    assert concrete.name == f"{sample}_{shard:03d}.root"


@pytest.mark.parametrize("kind", ["log", "benchmark"])
def test_log_and_benchmark_patterns_round_trip(tmp_path, kind):
    config = _config(tmp_path)
    concrete = getattr(paths, kind)(config, "generate", "haa_4b_ma30", 3)
    pattern = getattr(paths, f"{kind}_pattern")(config, "generate")
    match = _pattern_regex(pattern).match(str(concrete))
    assert match and match["sample"] == "haa_4b_ma30" and match["shard"] == "003"
    assert pattern.format(**match.groupdict()) == str(concrete)


def test_layout_under_output_dir(tmp_path):
    config = _config(tmp_path)
    out = tmp_path / "out"
    assert paths.ntuple(config, "ww", 2) == out / "ntuples" / "ww" / "ww_002.root"
    assert paths.log(config, "generate", "ww", 2) == out / "logs" / "generate" / "ww_002.log"
    assert paths.benchmark(config, "generate", "ww", 2) == (
        out / "benchmarks" / "generate" / "ww_002.tsv"
    )


def test_output_dir_expands_environment(tmp_path, monkeypatch):
    """$SCRATCH in config/perlmutter.yaml must become the real directory, not a folder
    literally named '$SCRATCH' below the working directory."""
    monkeypatch.setenv("SCRATCH", str(tmp_path))
    config = _config(tmp_path)
    config["output_dir"] = "$SCRATCH/evenet"
    assert paths.ntuple(config, "ww", 0).is_relative_to(tmp_path / "evenet")
    assert "$" not in paths.ntuple_pattern(config)


def test_unset_variable_in_output_dir_is_an_error(tmp_path, monkeypatch):
    """Guards against a run on a login node without $SCRATCH writing into './$SCRATCH'."""
    from evenet.config import ConfigError

    monkeypatch.delenv("SCRATCH", raising=False)
    config = _config(tmp_path)
    config["output_dir"] = "$SCRATCH/evenet"
    with pytest.raises(ConfigError, match="SCRATCH is not set"):
        paths.output_dir(config)


def test_braces_in_output_dir_are_not_wildcards(tmp_path):
    config = _config(tmp_path)
    config["output_dir"] = str(tmp_path / "run{1}")
    pattern = paths.ntuple_pattern(config)
    assert pattern.format(sample="ww", shard="000") == str(paths.ntuple(config, "ww", 0))


def test_all_ntuples_counts_per_sample(tmp_path):
    config = _config(tmp_path, samples={"ttbar_dilepton": 250, "ww": 100, "zz": 1})
    ntuples = paths.all_ntuples(config)
    assert len(ntuples) == 3 + 1 + 1
    assert len(set(ntuples)) == len(ntuples), "two shards share a file"
    for sample in ("ttbar_dilepton", "ww", "zz"):
        expected = [paths.ntuple(config, sample, shard) for shard, _ in shards(config, sample)]
        assert [p for p in ntuples if p.parent.name == sample] == expected


def test_all_ntuples_honours_only_samples(tmp_path):
    config = _config(tmp_path, samples={"ttbar_dilepton": 250, "ww": 100}, only=["ww"])
    assert paths.all_ntuples(config) == [paths.ntuple(config, "ww", 0)]


@pytest.mark.parametrize(
    # perlmutter: 10^8 events in 1020 shards of 10^5, minus 100 of the retired qcd_multib,
    # plus 3432 of the QCD bb̄ slices (3.432 * 10^8 events, issue 15's background plan), plus
    # anomaly's simulation (2 * 10^6 DY + 2 * 10^5 Upsilon tried: 20 + 2); ci: 4 + 25 + 15
    "override, expected",
    [(None, None), ("ci.yaml", 44), ("perlmutter.yaml", 4374)],
)
def test_all_ntuples_of_shipped_configs(tmp_path, override, expected):
    """Every shipped configuration yields distinct ntuple paths, one per shard."""
    files = [default_config_path()] + ([REPO / "config" / override] if override else [])
    config = load_config(files)
    config["output_dir"] = str(tmp_path)
    ntuples = paths.all_ntuples(config)
    n_shards = sum(len(shards(config, s)) for s in samples(config))
    assert len(ntuples) == n_shards == len(set(ntuples))
    if expected is not None:
        assert len(ntuples) == expected


def test_shard_label_rejects_negative():
    with pytest.raises(ValueError):
        paths.shard_label(-1)
