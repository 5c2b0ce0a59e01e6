"""What a training run saves and restores: the resumable state in checkpoints/last.pt, the
exported model.pt with its plot and summary.json, and the best-validation tracker."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from evenet.model.checkpoint import checkpoint_payload, load_checkpoint, save_checkpoint
from evenet.model.errors import CheckpointError
from evenet.train.ema import EMA
from evenet.train.metrics import plot_losses
from evenet.train.options import TrainOptions
from evenet.train.paths import RunPaths

# Options that change neither the model, the data order nor the optimisation: a run may
# resume with other values.
RESUMABLE_CHANGES = ("steps", "checkpoint_every", "log_every", "compile", "compile_mode")


class BestTracker:
    """Best validation loss so far, its EMA weights, and the early-stopping count."""

    def __init__(self, patience: int):
        self.patience = patience
        self.best, self.best_step, self.bad = float("inf"), 0, 0
        self.weights: dict | None = None
        self.stopped = False

    def update(self, step: int, loss: float, ema: EMA) -> bool:
        if loss < self.best:
            self.best, self.best_step, self.bad = loss, step, 0
            self.weights = {k: v.clone() for k, v in ema.shadow.items()}
        else:
            self.bad += 1
        self.stopped = bool(self.patience) and self.bad >= self.patience
        return self.stopped

    def state_dict(self) -> dict:
        return {
            "best": self.best,
            "best_step": self.best_step,
            "bad": self.bad,
            "weights": self.weights or {},
        }

    def load_state_dict(self, state: dict) -> None:
        self.best = float(state.get("best", float("inf")))
        self.best_step, self.bad = int(state.get("best_step", 0)), int(state.get("bad", 0))
        self.weights = state.get("weights") or None

    def summary(self) -> dict:
        if self.weights is None:
            return {}
        return {
            "best_val_loss": self.best,
            "best_step": self.best_step,
            "early_stopped": self.stopped,
        }


RESUME_MODES = ("no", "resume", "resume-or-start")


def identity(options: TrainOptions, dataset_manifest: Path, init: str) -> dict:
    """What a checkpoint can only be resumed with: the options that shape the training state
    (all but RESUMABLE_CHANGES), the dataset version (its manifest's sha256) and the
    initialisation (random, or the pretrained model's sha256)."""
    from evenet.io.manifest import sha256_file

    kept = {k: v for k, v in options.to_dict().items() if k not in RESUMABLE_CHANGES}
    return json.loads(
        json.dumps({"options": kept, "dataset": sha256_file(dataset_manifest), "init": init})
    )


def fingerprint(values: dict) -> str:
    """The checkpoint folder of an identity: checkpoints/<fingerprint>/last.pt."""
    import hashlib

    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def why_not_resumable(paths: RunPaths, wanted: dict) -> str:
    """The error for a --resume without a checkpoint of these options and data: what the
    checkpoints that are there differ in."""
    found = sorted(paths.checkpoints.glob("*/last.pt")) if paths.checkpoints.is_dir() else []
    if not found:
        return (
            f"cannot resume {paths.root}: it holds no checkpoint (start the run without --resume)"
        )
    lines = []
    for path in found:
        try:
            saved = load_checkpoint(path).get("extra", {}).get("training", {}).get("identity")
        except CheckpointError as error:
            lines.append(f"{path}: {error}")
            continue
        if saved is None:
            lines.append(f"{path}: written by an older version (no identity recorded)")
            continue
        differ = [
            f"{k} ({saved['options'].get(k)!r} -> {v!r})"
            for k, v in wanted["options"].items()
            if saved["options"].get(k) != v
        ]
        if saved.get("dataset") != wanted["dataset"]:
            differ.append("the dataset (its manifest changed)")
        if saved.get("init") != wanted["init"]:
            differ.append("the initialisation (another pretrained model, or scratch)")
        lines.append(f"{path}: differs in " + (", ".join(differ) or "nothing recorded"))
    return (
        f"cannot resume {paths.root}: no checkpoint of these options and data; "
        + "; ".join(lines)
        + " (use --resume-or-start to start anew)"
    )


def clear_run(paths: RunPaths) -> None:
    """Remove a previous run's outputs and checkpoints before starting anew, so that an old
    model.pt or summary.json never stands beside a new run's checkpoints."""
    import shutil

    for path in paths.outputs():
        path.unlink(missing_ok=True)
    shutil.rmtree(paths.checkpoints, ignore_errors=True)


class RunState:
    """The parts of a run that a checkpoint holds besides the model's weights."""

    def __init__(self, optimizer, scheduler, ema: EMA, loader, tracker: BestTracker):
        self.optimizer, self.scheduler, self.ema = optimizer, scheduler, ema
        self.loader, self.tracker = loader, tracker
        self.identity: dict = {}  # what the run may only be resumed with (identity())


def payload(model, stats: dict, manifest: dict, weights: dict | None = None) -> dict:
    """The checkpoint of ``model`` (``weights`` instead of its own, e.g. the EMA's)."""
    result = checkpoint_payload(
        model,
        stats=stats,
        class_map=manifest.get("class_map"),
        conversion=manifest.get("conversion"),
    )
    if weights is not None:
        result["state_dict"] = weights
    return result


def save(paths: RunPaths, model, state: RunState, options, step, epoch, manifest, stats) -> None:
    """checkpoints/last.pt: everything a resume needs to repeat the uninterrupted run."""
    data = payload(model, stats, manifest)
    data["extra"] = {
        "training": {
            "step": step,
            "epoch": epoch,
            "options": options.to_dict(),
            "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict(),
            "ema": state.ema.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "loader": state.loader.state_dict(),
            "best": state.tracker.state_dict(),
            "identity": state.identity,
        }
    }
    save_checkpoint(paths.last, data)


def finished(path: Path, options: TrainOptions) -> bool:
    """The checkpoint is the end of a run of ``options.steps`` steps."""
    state = load_checkpoint(path).get("extra", {}).get("training", {})
    return int(state.get("step", 0)) >= options.steps


def restore(path: Path, model, state: RunState, options: TrainOptions) -> tuple[int, int]:
    """Load last.pt into the model and ``state``; returns (step, epoch)."""
    data = load_checkpoint(path)
    saved_state = data.get("extra", {}).get("training")
    if saved_state is None:
        raise CheckpointError(f"{path} holds no training state (not written by `evenet train`)")
    saved = {k: v for k, v in saved_state["options"].items() if k not in RESUMABLE_CHANGES}
    now = {k: v for k, v in options.to_dict().items() if k in saved}
    differ = {k: (saved[k], now[k]) for k in saved if saved[k] != now[k]}
    if differ:
        raise CheckpointError(f"cannot resume {path}: options (saved, now) differ: {differ}")
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(
            f"cannot resume {path}: it holds a model of another layout (first difference: "
            f"{str(error).splitlines()[1].strip()[:200]}); remove {path.parent} to start anew"
        ) from None
    state.optimizer.load_state_dict(saved_state["optimizer"])
    state.scheduler.load_state_dict(saved_state["scheduler"])
    state.ema.load_state_dict(saved_state["ema"])
    torch.set_rng_state(saved_state["torch_rng"])
    if saved_state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved_state["cuda_rng"])
    state.loader.load_state_dict(saved_state["loader"])
    state.tracker.load_state_dict(saved_state.get("best", {}))
    return int(saved_state["step"]), int(saved_state["epoch"])


def export(
    paths: RunPaths, model, weights, options, manifest, stats, step, seconds, hardware=None
) -> dict:
    """The exported model (EMA weights; with validation the best ones), plot, summary.json.

    ``hardware`` (device name, world size, bf16) is recorded for the report's provenance.
    """
    save_checkpoint(paths.model, payload(model, stats, manifest, weights=weights))
    if paths.metrics.exists():
        validation = paths.validation if paths.validation.exists() else None
        parts = paths.root.parts  # the run below training/, e.g. finetune/haa/main/scratch/...
        below = parts[parts.index("training") + 1 :] if "training" in parts else parts[-3:]
        title = f"{options.preset} preset: {'/'.join(below)}"
        plot_losses(paths.metrics, paths.loss_plot, title=title, validation=validation)
    summary = {
        "steps": step,
        "seconds": seconds,
        "model": str(paths.model),
        "metrics": str(paths.metrics),
        "loss_plot": str(paths.loss_plot),
        "tasks": list(model.heads.keys()),
        "finished": True,
        **(hardware or {}),
    }
    paths.summary.write_text(json.dumps(summary, indent=1))
    return summary
