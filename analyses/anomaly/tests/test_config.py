"""The anomaly analysis's configuration errors name what to fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_a_mass_only_input_naming_an_unknown_dataset_is_one_clear_error(tmp_path):
    """It raised KeyError: 'nope' while the DAG was built."""
    override = tmp_path / "bad.yaml"
    override.write_text("analyses: {anomaly: {mass_only: {x: {dataset: nope}}}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE_")}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--directory", str(tmp_path / "w")]
        + ["--configfile", "config/config.yaml", str(override)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "analyses.anomaly.mass_only names datasets that are not in `datasets`" in output
    assert "{'x': 'nope'}" in output and "KeyError" not in output


def test_a_generator_run_not_trained_on_the_sideband_list_is_one_clear_error(tmp_path):
    override = tmp_path / "bad.yaml"
    override.write_text("analyses: {anomaly: {runs: {generator: {events: null}}}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE_")}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--directory", str(tmp_path / "w")]
        + ["--configfile", "config/config.yaml", str(override)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "analyses.anomaly.runs.generator cannot be the generator" in output
    assert "events: {name: sideband, val_fraction: F}" in output
