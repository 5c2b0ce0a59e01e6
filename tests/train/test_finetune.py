"""Fine-tuning end to end: the pretrained body is loaded (and reported), freezing holds,
scratch differs from pretrained, and prediction aligns with the dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from evenet.cli import main
from evenet.io.manifest import load_manifest, write_json_atomic
from evenet.io.stats import write_stats
from evenet.io.topologies import load_topologies
from evenet.train.finetune import finetune
from evenet.train.options import TrainOptions
from evenet.train.trainer import train
from tests.shard_factory import write_dataset

FAST = {"batch_size": 32, "num_workers": 0, "warmup_steps": 1, "log_every": 1}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ft")
    manifest_file = write_dataset(folder / "ds", 1500)
    manifest = load_manifest(manifest_file)
    manifest["topologies"] = load_topologies().summary()
    write_json_atomic(manifest_file, manifest)
    write_stats(folder / "ds")
    train(folder / "ds", folder / "pre", TrainOptions(steps=3, **FAST), log=lambda _: None)
    return folder / "ds", folder / "pre" / "model.pt"


def _state(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state_dict"]


def test_finetune_loads_the_body_and_reports_it(pretrained, tmp_path):
    """Guards against fine-tuning silently starting from random weights."""
    dataset, checkpoint = pretrained
    lines = []
    options = TrainOptions(steps=2, tasks=("classification",), freeze="body", **FAST)
    finetune(dataset, tmp_path / "ft", options, pretrained=checkpoint, log=lines.append)
    report = "\n".join(lines)
    assert "loaded" in report and "body" in report
    before, after = _state(checkpoint), _state(tmp_path / "ft" / "model.pt")
    body = [k for k in before if k.startswith("body.")]
    # frozen body: identical to the pretrained EMA weights after fine-tuning
    assert all(torch.equal(before[k], after[k]) for k in body)


def test_scratch_differs_from_the_pretrained_initialisation(pretrained, tmp_path):
    """Guards against --scratch quietly loading the pretrained body."""
    dataset, checkpoint = pretrained
    options = TrainOptions(
        steps=1, tasks=("classification",), lr=1e-9, warmup_steps=0, batch_size=32, num_workers=0
    )
    finetune(dataset, tmp_path / "scratch", options, scratch=True, log=lambda _: None)
    finetune(dataset, tmp_path / "pre", options, pretrained=checkpoint, log=lambda _: None)
    scratch, pre = _state(tmp_path / "scratch" / "model.pt"), _state(tmp_path / "pre" / "model.pt")
    key = "body.blocks.0.qkv.weight"
    assert not torch.allclose(scratch[key], pre[key])


def test_a_scratch_body_trains_at_the_full_rate(pretrained, tmp_path):
    """Guards the scratch baseline: body_lr_factor and freeze protect a pretrained body; a
    random body slowed or frozen by them would handicap the comparison (a scratch generator
    reached a 3x worse dimuon mass at body_lr_factor 0.1)."""
    dataset, _ = pretrained
    common = {"steps": 2, "tasks": ("classification",), "warmup_steps": 0, "batch_size": 32}
    lines = []
    frozen = TrainOptions(**common, lr=1e-2, freeze="body", body_lr_factor=0.1, num_workers=0)
    finetune(dataset, tmp_path / "a", frozen, scratch=True, log=lines.append)
    still = TrainOptions(**common, lr=1e-12, num_workers=0)
    finetune(dataset, tmp_path / "b", still, scratch=True, log=lambda _: None)
    assert any("the body trains at the full learning rate" in line for line in lines)
    trained, initial = _state(tmp_path / "a" / "model.pt"), _state(tmp_path / "b" / "model.pt")
    key = "body.blocks.0.qkv.weight"
    assert not torch.allclose(trained[key], initial[key])


def test_cli_finetune_then_predict(pretrained, tmp_path, capsys):
    """Guards against the commands the workflow runs failing to chain."""
    dataset, checkpoint = pretrained
    config = tmp_path / "ft.yaml"
    config.write_text(
        json.dumps(
            {
                "training": {
                    "finetune": {
                        "steps": 2,
                        "batch_size": 32,
                        "num_workers": 0,
                        "eval_every": 1,
                        "patience": 5,
                        "warmup_steps": 1,
                    }
                }
            }
        )
    )
    base = str(Path(__file__).resolve().parents[2] / "config" / "config.yaml")
    assert (
        main(
            [
                "finetune",
                "--dataset",
                str(dataset),
                "--output",
                str(tmp_path / "run"),
                "--pretrained",
                str(checkpoint),
                "--config",
                base,
                str(config),
            ]
        )
        == 0
    )
    assert (tmp_path / "run" / "validation.csv").exists()
    out = tmp_path / "pred.parquet"
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(tmp_path / "run" / "model.pt"),
                "--dataset",
                str(dataset),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert out.stat().st_size > 0
    assert main(["finetune", "--dataset", str(dataset), "--output", str(tmp_path / "x")]) == 2


def test_workflow_job_on_selected_events(pretrained, tmp_path, capsys):
    """The finetune and predict commands as rule finetune/predict run them (--options from the
    resolver), for a run with `events:`: training sees only the listed events at the
    stratified share, prediction covers the parent dataset's splits."""
    import pyarrow.parquet as pq

    from evenet import job_options
    from evenet.config import default_config_path, load_config
    from evenet.io.columns import to_numpy
    from evenet.io.predictions import dataset_table

    dataset, checkpoint = pretrained
    override = tmp_path / "run.yaml"
    override.write_text(
        "training: {finetune: {batch_size: 16, num_workers: 0, warmup_steps: 1, eval_every: 0}}\n"
        "analyses: {haa: {runs: {picked: {dataset: haa, training: {steps: 2},"
        " predict: {splits: [val, test], hypotheses: []},"
        " events: {name: picked, stratify: {class0: 0.25}, val_fraction: 0.2}}}}}\n"
    )
    config = load_config([default_config_path(), override])
    options = job_options.finetune(config, "haa", "picked", "pretrained", 64, 2)
    events = tmp_path / "picked.parquet"
    pq.write_table(dataset_table(dataset).slice(0, 900).select(["sample", "run", "event"]), events)
    run = tmp_path / "run"
    argv = ["finetune", "--dataset", str(dataset), "--output", str(run)]
    argv += ["--pretrained", str(checkpoint), "--events", str(events)]
    assert main([*argv, "--options", job_options.to_param(options)]) == 0
    err = capsys.readouterr().err
    assert "[finetune] options differing from the defaults:" in err and "steps: 300 -> 2" in err
    train_split = dataset_table(run / "selected", ["process"], ["train"])
    assert train_split.num_rows == 64 and (to_numpy(train_split["process"]) == 1).sum() == 16
    assert json.loads((run / "summary.json").read_text())["steps"] == 2
    predictions = tmp_path / "predictions.parquet"
    predict_options = job_options.to_param(job_options.predict(config, "haa", "picked"))
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(run / "model.pt"),
                "--dataset",
                str(dataset),
                "--output",
                str(predictions),
                "--options",
                predict_options,
            ]
        )
        == 0
    )
    assert set(to_numpy(pq.read_table(predictions)["split"])) == {1, 2}
    without = [a for a in argv if a not in ("--events", str(events))]
    assert main([*without, "--options", job_options.to_param(options)]) == 2
    assert "give --events" in capsys.readouterr().err
