"""The anomaly analysis's configuration errors name what to fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _dry_run(tmp_path: Path, override: str) -> subprocess.CompletedProcess:
    """`snakemake -n` with config/config.yaml and ``override`` layered on it."""
    path = tmp_path / "bad.yaml"
    path.write_text(override)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE_")}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--directory", str(tmp_path / "w")]
        + ["--configfile", "config/config.yaml", str(path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_mass_only_input_naming_an_unknown_dataset_is_one_clear_error(tmp_path):
    """It raised KeyError: 'nope' while the DAG was built."""
    result = _dry_run(tmp_path, "analyses: {anomaly: {mass_only: {x: {dataset: nope}}}}\n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "analyses.anomaly.mass_only names datasets that are not in `datasets`" in output
    assert "{'x': 'nope'}" in output and "KeyError" not in output


def test_a_generator_run_not_trained_on_the_sideband_list_is_one_clear_error(tmp_path):
    result = _dry_run(tmp_path, "analyses: {anomaly: {runs: {generator: {events: null}}}}\n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "analyses.anomaly.runs.generator cannot be the generator" in output
    assert "events: {name: sideband, val_fraction: F}" in output
