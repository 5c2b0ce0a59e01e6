"""The training loop: losses fall, a resumed run repeats the uninterrupted one exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from evenet.io.manifest import load_manifest, write_json_atomic
from evenet.io.stats import write_stats
from evenet.io.topologies import load_topologies
from evenet.model.checkpoint import from_checkpoint
from evenet.model.errors import CheckpointError
from evenet.train.options import TrainOptions
from evenet.train.trainer import train
from tests.shard_factory import write_dataset

FAST = {"batch_size": 32, "num_workers": 0, "warmup_steps": 2, "log_every": 1}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("train_ds")
    manifest_file = write_dataset(folder, 1500)
    manifest = load_manifest(manifest_file)
    manifest["topologies"] = load_topologies().summary()  # real decay trees for the heads
    write_json_atomic(manifest_file, manifest)
    write_stats(folder)
    return folder


def _losses(run: Path) -> list[float]:
    with open(run / "metrics.csv", newline="") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def test_short_pretraining_lowers_the_loss_and_exports_a_model(dataset, tmp_path):
    """Guards against a loop that does not learn, or a run that leaves no usable model."""
    options = TrainOptions(steps=40, stage1_steps=10, lr=3e-3, checkpoint_every=20, **FAST)
    summary = train(dataset, tmp_path / "run", options, log=lambda _: None)
    losses = _losses(tmp_path / "run")
    assert len(losses) == 40
    stage2 = losses[10:]
    assert sum(stage2[-5:]) / 5 < 0.8 * sum(stage2[:5]) / 5, stage2
    model, payload = from_checkpoint(summary["model"], manifest=load_manifest(dataset))
    assert payload["class_map"] == load_manifest(dataset)["class_map"]
    assert (tmp_path / "run" / "loss.png").stat().st_size > 0


def test_resume_repeats_the_uninterrupted_run(dataset, tmp_path):
    """Guards against resume drifting: same next losses, same weights as never stopping."""
    torch.use_deterministic_algorithms(True)
    try:
        options = TrainOptions(steps=8, stage1_steps=2, checkpoint_every=4, **FAST)
        train(dataset, tmp_path / "full", options, log=lambda _: None)
        stopped = train(dataset, tmp_path / "split", options, stop_after=4, log=lambda _: None)
        assert stopped["finished"] is False and not (tmp_path / "split" / "model.pt").exists()
        train(dataset, tmp_path / "split", options, resume=True, log=lambda _: None)
    finally:
        torch.use_deterministic_algorithms(False)
    assert _losses(tmp_path / "split") == _losses(tmp_path / "full")
    full = torch.load(tmp_path / "full" / "model.pt", weights_only=True)["state_dict"]
    split = torch.load(tmp_path / "split" / "model.pt", weights_only=True)["state_dict"]
    for name in full:
        assert torch.equal(full[name], split[name]), name


def test_resume_with_other_options_is_refused(dataset, tmp_path):
    """Guards against silently continuing a run with a different learning rate or batch."""
    options = TrainOptions(steps=2, checkpoint_every=2, **FAST)
    train(dataset, tmp_path / "run", options, log=lambda _: None)
    changed = TrainOptions(**{**options.__dict__, "lr": 0.5, "steps": 4})
    with pytest.raises(CheckpointError, match=r"differs in lr \(0.001 -> 0.5\)"):
        train(dataset, tmp_path / "run", changed, resume=True, log=lambda _: None)
    # How the body is compiled changes no state: a killed run may resume compiled.
    other_mode = TrainOptions(**{**options.__dict__, "compile_mode": "max-autotune", "steps": 3})
    summary = train(dataset, tmp_path / "run", other_mode, resume=True, log=lambda _: None)
    assert summary["steps"] == 3


def test_bench_train_reports_rates_and_loader_stalls():
    """Guards against `evenet bench train` printing numbers that are not measured."""
    from evenet.bench.train import bench_train

    result = bench_train("tiny", steps=2, warmup=1, batch_size=32, num_workers=0, events=1500)
    assert result["steps"] == 2 and result["warmup_steps"] == 1 and result["events_per_s"] > 0
    assert 0.0 <= result["loader_stall_fraction"] < 1.0
    assert result["events_per_s"] == pytest.approx(result["steps_per_s"] * 32)
    assert result["body_gflops_per_copy"] > 0 and result["achieved_tflops"] > 0


def test_bench_train_rate_leaves_out_the_warm_up(tmp_path):
    """Guards against compilation or warm-up time diluting the steady-state rate."""
    from evenet.bench.train import _steady_state

    csv = tmp_path / "metrics.csv"
    rows = ["step,events_per_s,loader_stall_fraction", "5,1,0.9", "10,100,0.0", "15,50,0.3"]
    csv.write_text("\n".join(rows) + "\n")
    rate, stall = _steady_state(csv, after_step=5, batch_size=10)
    # 50 events in 0.5 s, then 50 events in 1 s (30% of it stalled)
    assert rate == pytest.approx(100 / 1.5)
    assert stall == pytest.approx(0.3 / 1.5)


def test_resume_of_a_finished_run_starts_anew(dataset, tmp_path):
    """Guards against a forced rerun (new code or inputs) reusing a finished run's weights."""
    options = TrainOptions(steps=2, checkpoint_every=2, **FAST)
    train(dataset, tmp_path / "run", options, log=lambda _: None)
    lines = []
    summary = train(dataset, tmp_path / "run", options, resume=True, log=lines.append)
    assert summary["steps"] == 2 and any("starting anew" in line for line in lines)
    assert len(_losses(tmp_path / "run")) == 2


@pytest.mark.slow
def test_compiled_training_keeps_checkpoint_keys_and_body_outputs(dataset, tmp_path):
    """Guards against `compile: true` renaming state_dict keys (checkpoints unloadable by an
    eager model) or compiling a body that computes something else."""
    import torch

    from evenet.model.checkpoint import from_checkpoint
    from evenet.model.synthetic import synthetic_batch

    options = TrainOptions(steps=2, checkpoint_every=2, compile=True, **FAST)
    summary = train(dataset, tmp_path / "run", options, log=lambda _: None)
    compiled, _ = from_checkpoint(summary["model"])
    eager, _ = from_checkpoint(summary["model"])
    compiled.eval().compile_body()
    eager.eval()
    assert compiled.state_dict().keys() == eager.state_dict().keys()
    batch = synthetic_batch(8, eager.topologies, eager.config.num_classes, seed=2)
    with torch.no_grad():
        want = eager.body(**eager.inputs(batch))
        got = compiled.body(**compiled.inputs(batch))
    real = want.mask
    torch.testing.assert_close(got.tokens[real], want.tokens[real], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got.event, want.event, rtol=1e-4, atol=1e-4)


def _nan_from(model, first_bad_call: int):
    """Make the model's loss NaN from its ``first_bad_call``-th call on (1-based)."""
    real, calls = model.forward, [0]

    def forward(*args, **kwargs):
        calls[0] += 1
        terms = real(*args, **kwargs)
        if calls[0] >= first_bad_call:
            task = next(iter(terms))
            terms[task] = terms[task] * float("nan")
        return terms

    model.forward = forward
    return model


@pytest.mark.parametrize("log_every", [1, 100])
def test_a_nan_loss_stops_training_before_it_is_saved(dataset, tmp_path, log_every):
    """Guards against a diverged run writing NaN weights over its last good checkpoint (and
    an exported model.pt) while the log scrolls on."""
    from evenet.model.errors import TrainingError
    from evenet.train.trainer import build_model, dataset_inputs

    values = {**FAST, "log_every": log_every}
    options = TrainOptions(steps=6, checkpoint_every=2, **values)
    manifest, stats = dataset_inputs(dataset)
    model = _nan_from(build_model(options, manifest, stats), first_bad_call=3)
    run = tmp_path / "run"
    with pytest.raises(TrainingError, match="at step 3.*still holds step 2"):
        train(dataset, run, options, model=model, log=lambda _: None)
    (last,) = run.glob("checkpoints/*/last.pt")
    saved = torch.load(last, weights_only=True)
    assert saved["extra"]["training"]["step"] == 2
    weights = saved["state_dict"].values()
    assert all(torch.isfinite(v).all() for v in weights if v.is_floating_point())
    assert not (run / "model.pt").exists()


def test_checkpoints_of_other_options_or_data_are_never_resumed(dataset, tmp_path):
    """Guards against issue 12 §2: an interrupted run resumed from a checkpoint made on other
    data or options. The workflow's --resume-or-start starts anew then, and a fresh run
    replaces the whole run folder (no old model.pt beside new checkpoints)."""
    run = tmp_path / "run"
    options = TrainOptions(steps=4, checkpoint_every=2, **FAST)
    train(dataset, run, options, stop_after=2, log=lambda _: None)
    (first,) = run.glob("checkpoints/*/last.pt")
    other = TrainOptions(**{**options.__dict__, "lr": 0.002})
    lines = []
    summary = train(dataset, run, other, resume="resume-or-start", log=lines.append)
    assert summary["steps"] == 4 and not any("resumed" in line for line in lines)
    (second,) = run.glob("checkpoints/*/last.pt")
    assert second.parent != first.parent and not first.exists()
    lines = []
    train(dataset, run, options, stop_after=2, log=lambda _: None)  # fresh: replaces the run
    assert not (run / "model.pt").exists() and not (run / "summary.json").exists()
    summary = train(dataset, run, options, resume="resume-or-start", log=lines.append)
    assert any("resumed" in line and "step 2" in line for line in lines)
    assert summary["steps"] == 4 and (run / "model.pt").exists()


def test_a_bare_resume_without_a_checkpoint_is_an_error(dataset, tmp_path):
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        train(dataset, tmp_path / "run", TrainOptions(steps=1, **FAST), resume=True)


def test_run_chooses_the_generated_and_condition_globals(tmp_path):
    """Guards issue 16: training.global_generation sets the head's columns (it was fixed by
    the preset), and an unknown key is refused."""
    from evenet.model.config import ModelConfigError
    from evenet.model.normalize import GLOBAL_INPUTS, neutral_stats
    from evenet.train.trainer import build_model

    manifest = load_manifest(write_dataset(tmp_path, 300))
    chosen = {"generate": ["HT_lep", "MET_phi"], "condition": ["M_leptons"]}
    options = TrainOptions.from_dict({"tasks": ["global_generation"], "global_generation": chosen})
    head = build_model(options, manifest, neutral_stats()).heads["global_generation"]
    generated = {GLOBAL_INPUTS[i] for i in head.generated.nonzero().flatten().tolist()}
    assert generated == {"HT_lep", "cos_MET_phi", "sin_MET_phi"}
    assert [GLOBAL_INPUTS[i] for i in head.condition] == ["M_leptons"]
    with pytest.raises(ModelConfigError, match="condition and generate"):
        TrainOptions.from_dict({"global_generation": {"given": ["HT"]}})


def test_a_dataset_with_x_extra_gives_the_model_those_inputs(tmp_path):
    """Guards issue 16: x_extra (iso, ip3d) never entered the model. A dataset carrying it
    (and globals_extra) now builds a model with those inputs, and the loader is asked for the
    columns."""
    from evenet.model.normalize import neutral_stats
    from evenet.train.trainer import _columns, build_model

    manifest = load_manifest(write_dataset(tmp_path, 300))
    stats = neutral_stats()
    options = TrainOptions(tasks=("classification",))
    assert build_model(options, manifest, stats).config.x_extra == ()
    assert "x_extra" not in _columns(manifest, ("classification",))
    manifest["x_extra"] = ["iso", "ip3d"]
    stats["x_extra"] = {"features": ["iso", "ip3d"], "mean": [0.0, 0.0], "std": [1.0, 1.0]}
    manifest["globals_extra"] = ["M_ll", "pT_ll"]
    stats["globals_extra"] = {"features": ["M_ll", "pT_ll"], "mean": [0.0] * 2, "std": [1.0] * 2}
    model = build_model(options, manifest, stats)
    assert model.config.x_extra == ("iso", "ip3d") and model.body.extra_embed is not None
    assert model.config.globals_extra == ("M_ll", "pT_ll")
    assert model.body.global_extra_embed is not None
    assert {"x_extra", "globals_extra"} <= set(_columns(manifest, ("classification",)))
