"""The haa analysis section: its runs resolve into the jobs the workflow schedules."""

from __future__ import annotations

from pathlib import Path

import pytest

import analyses.haa.paths as haa_paths
from evenet import job_options, paths
from evenet.config import default_config_path, load_config

REPO = Path(__file__).resolve().parents[3]


def test_local_config_runs_pretrained_and_scratch(tmp_path):
    config = load_config([default_config_path()])
    config["output_dir"] = str(tmp_path)
    found = haa_paths.predictions(config)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "predictions/haa/main/pretrained/size_all/seed1/predictions.parquet",
        "predictions/haa/main/scratch/size_all/seed1/predictions.parquet",
    ]
    assert haa_paths.results_dir(config) == paths.analysis_dir(config, "haa")


def test_perlmutter_scans_sizes_and_seeds_over_the_base_run():
    """The override file merges into runs.main: the dataset, modes, event list and training
    weights of the base remain; sizes, seeds and batch size are Perlmutter's."""
    config = load_config([default_config_path(), REPO / "config" / "perlmutter.yaml"])
    spec = config["analyses"]["haa"]["runs"]["main"]
    assert spec["dataset"] == "haa" and spec["modes"] == ["pretrained", "scratch"]
    assert len(paths.finetune_runs(config, "haa")) == 2 * 3 * 3  # modes x sizes x seeds
    assert spec["events"]["name"] == "selected"
    assert sum(spec["events"]["stratify"].values()) == pytest.approx(0.1)
    assert haa_paths.largest_training(config)["signal_share"] == pytest.approx(0.1)
    options = job_options.finetune(config, "haa", "main", "scratch", "10000", 3)
    assert options["training"]["train_events"] == 10000
    assert options["training"]["seed"] == 3
    assert options["load_heads"] == []
    assert options["training"]["weighting"] == "cross_section"
    assert options["training"]["batch_size"] == 256
