"""The training loop shared by pretraining and fine-tuning.

Deterministic and resumable: the diffusion noise of step s comes from a generator seeded by
(seed, s), dropout/stochastic depth from torch's global RNG whose state is checkpointed, and
the loader resumes from its own state (epoch, batches delivered). A resumed run therefore
repeats exactly the losses an uninterrupted run would have produced (tested on CPU with 0
loader workers).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from evenet.data.loader import make_loader
from evenet.io.manifest import load_manifest, manifest_path
from evenet.model.checkpoint import checkpoint_payload, load_checkpoint, save_checkpoint
from evenet.model.config import preset
from evenet.model.errors import CheckpointError
from evenet.model.model import EveNet
from evenet.train import distributed
from evenet.train.ema import EMA
from evenet.train.guard import FiniteGuard
from evenet.train.metrics import MetricsLog, plot_losses
from evenet.train.options import TrainOptions
from evenet.train.paths import RunPaths
from evenet.train.schedule import lr_factor, masked_fraction
from evenet.train.transfer import freeze, param_groups
from evenet.train.validate import validation_loader, validation_loss
from evenet.train.weights import TrainWeights, process_factors

_INPUT_COLUMNS = ("x", "x_mask", "globals", "weight", "process")
_TARGET_COLUMNS = ("topology", "assignment", "segmentation", "neutrinos", "neutrinos_mask")


def _columns(manifest: dict) -> list[str]:
    """Loader columns: inputs, targets where the dataset has them (``label`` comes with the
    class map)."""
    columns = [*_INPUT_COLUMNS, *(_TARGET_COLUMNS if manifest.get("has_targets") else ())]
    return columns + (["label"] if manifest.get("class_map") else [])


def dataset_inputs(dataset: Path) -> tuple[dict, dict]:
    manifest = load_manifest(dataset)
    stats_path = manifest_path(dataset).parent / "stats.json"
    if not stats_path.is_file():
        raise CheckpointError(f"{stats_path} is missing: run `evenet stats {dataset}` first")
    return manifest, json.loads(stats_path.read_text())


def _tasks_for(manifest: dict, tasks: tuple[str, ...]) -> tuple[str, ...]:
    """Drop the supervised heads a dataset has no targets for (data, CMS files)."""
    if manifest.get("has_targets"):
        return tasks
    needs_truth = {"assignment", "segmentation", "neutrino_generation"}
    return tuple(t for t in tasks if t not in needs_truth)


def build_model(options: TrainOptions, manifest: dict, stats: dict) -> EveNet:
    class_map = manifest.get("class_map") or {}
    num_classes = max(len(set(class_map.values())), 2)
    config = preset(
        options.preset, num_classes=num_classes, tasks=_tasks_for(manifest, options.tasks)
    )
    return EveNet(config, stats, dataset_topologies(manifest))


def dataset_topologies(manifest: dict) -> list[dict]:
    """The manifest's topologies that some process of the dataset can have (each topology's
    `processes`, as the manifest records them): a head per topology without events would
    never train."""
    names = {pid: entry["name"] for pid, entry in manifest.get("processes", {}).items()}
    present = {names.get(pid) for pid in manifest.get("counts", {})}
    return [t for t in manifest["topologies"] if present & set(t.get("processes", ()))]


def train(
    dataset: str | Path,
    run_dir: str | Path,
    options: TrainOptions,
    *,
    resume: bool = False,
    model: EveNet | None = None,
    stats: dict | None = None,
    stop_after: int | None = None,
    log=print,
) -> dict:
    """Train on the train split of ``dataset``; writes checkpoints, metrics and plots under
    ``run_dir`` (see RunPaths). Returns a summary dict (also written as summary.json).

    ``stop_after``: end this call after that many steps with a checkpoint (e.g. before a
    batch job's time limit); ``resume=True`` continues the same schedule later."""
    info = distributed.setup()
    device = info.device
    if not info.is_main:
        log = _silent
    paths = RunPaths(Path(run_dir))
    if info.is_main:
        paths.root.mkdir(parents=True, exist_ok=True)
    manifest, own_stats = dataset_inputs(Path(dataset))
    stats = own_stats if stats is None else stats  # fine-tuning keeps the body's statistics
    torch.manual_seed(options.seed)  # the same initial weights on every rank
    if model is None:
        model = build_model(options, manifest, stats)
    model.to(device).train()
    bf16 = options.bf16 if options.bf16 is not None else device.type == "cuda"
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for what autocast leaves in fp32
    tasks = tuple(model.heads.keys())
    weights = {t: float(options.loss_weights.get(t, 1.0)) for t in tasks}

    loader = make_loader(
        dataset,
        split="train",
        batch_size=options.batch_size,
        seed=options.seed,
        drop_last=True,
        num_workers=options.num_workers,
        columns=_columns(manifest),
        max_events=options.train_events or None,
    )
    train_weights = TrainWeights(process_factors(dataset, options.mix))
    if len(loader) == 0:
        raise CheckpointError(
            f"{dataset}: fewer training events than one batch of {options.batch_size}"
        )
    frozen = freeze(model, options.freeze)
    if frozen:
        log(f"[train] froze {len(frozen)} parameter tensors ({options.freeze})")
    optimizer = torch.optim.AdamW(
        param_groups(model, options.lr, options.body_lr_factor, options.weight_decay),
        fused=device.type == "cuda",  # one kernel for all parameters
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: lr_factor(s, options.warmup_steps, options.steps, options.final_lr_factor),
    )
    ema = EMA(model, options.ema_decay)
    step, epoch = 0, 0
    tracker = _BestTracker(options.patience)
    validation = val_log = None
    if options.eval_every and info.is_main:
        validation = validation_loader(dataset, options, _columns(manifest))
    if resume and paths.last.exists() and _finished(paths.last, options):
        # A rerun of a finished run (changed inputs, --forcerun) starts over; only an
        # interrupted run (timeout, preemption) continues.
        log(f"[train] {paths.last} is a finished run of {options.steps} steps: starting anew")
    elif resume and paths.last.exists():
        step, epoch = _restore(
            paths.last, model, optimizer, scheduler, ema, loader, options, tracker
        )
        log(f"[train] resumed from {paths.last} at step {step} (epoch {epoch})")
    metrics = None
    if info.is_main:
        metrics = MetricsLog(paths.metrics, resume_step=step if step else None)
        if validation is not None:
            val_log = MetricsLog(paths.validation, resume_step=step if step else None)
    losses_fn = _wrap(model, info, options)
    if info.world_size > 1:
        log(f"[train] DDP over {info.world_size} processes; the loader shards events by rank")

    start, events, last_log = time.perf_counter(), 0, time.perf_counter()
    waited = waited_total = 0.0  # seconds spent waiting for the loader (stall)
    first_step = saved_step = step
    guard = FiniteGuard(device)
    loader.set_epoch(epoch)
    iterator = iter(loader)
    last_step = options.steps if stop_after is None else min(options.steps, step + stop_after)
    while step < last_step:
        stage1 = step < options.stage1_steps
        step_tasks = ("masked_generation",) if stage1 and "masked_generation" in tasks else tasks
        fraction = masked_fraction(
            step, options.stage1_steps, options.mask_fraction_start, options.mask_fraction_end
        )
        generator = torch.Generator(device=device).manual_seed(options.seed * 1_000_003 + step)
        optimizer.zero_grad(set_to_none=True)
        # Kept on the device: converting to floats every step would wait for the GPU.
        terms_sum: dict[str, torch.Tensor] = {}
        for _ in range(options.grad_accumulation):
            wait0 = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                epoch += 1
                loader.set_epoch(epoch)
                iterator = iter(loader)
                batch = next(iterator)
            batch = train_weights({k: v.to(device, non_blocking=True) for k, v in batch.items()})
            waited += time.perf_counter() - wait0
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                terms = losses_fn(
                    batch, tasks=step_tasks, mask_fraction=fraction, generator=generator
                )
                loss = sum(weights[t] * v for t, v in terms.items()) / options.grad_accumulation
            guard.observe(loss, step + 1)
            loss.backward()
            events += len(batch["x"])
            for t, v in terms.items():
                terms_sum[t] = (
                    terms_sum.get(t, 0.0) + v.detach().float() / options.grad_accumulation
                )
        grad_norm = (
            torch.nn.utils.clip_grad_norm_(model.parameters(), options.grad_clip)
            if options.grad_clip > 0
            else torch.tensor(0.0)
        )
        if options.grad_clip > 0:
            guard.observe(grad_norm, step + 1)
        optimizer.step()
        scheduler.step()
        ema.update(model)
        step += 1
        logging = step % options.log_every == 0 or step == options.steps
        if logging:  # every rank joins the check and the mean
            guard.check(info.world_size, saved_step, paths.last)
            terms_logged = distributed.all_mean({t: float(v) for t, v in terms_sum.items()}, info)
            total = sum(weights[t] * v for t, v in terms_logged.items())
        if info.is_main and logging:
            now = time.perf_counter()
            rate = events * info.world_size / max(now - last_log, 1e-9)
            metrics.write(
                {
                    "step": step,
                    "epoch": epoch,
                    "lr": scheduler.get_last_lr()[0],
                    "mask_fraction": fraction if "masked_generation" in step_tasks else "",
                    "loss": total,
                    **{f"loss_{t}": terms_logged.get(t, "") for t in tasks},
                    "grad_norm": float(grad_norm),
                    "events_per_s": rate,
                    "loader_stall_fraction": waited / max(now - last_log, 1e-9),
                }
            )
            eta = (options.steps - step) * (now - start) / max(step, 1)
            log(
                f"[train] step {step}/{options.steps} loss {total:.4f} "
                f"{rate:.0f} events/s, ETA {eta / 60:.1f} min"
            )
            events, last_log = 0, now
            waited_total, waited = waited_total + waited, 0.0
        stop = False
        if options.eval_every and step % options.eval_every == 0:  # the same on every rank
            if validation is not None:  # rank 0 validates
                seed = options.seed * 7919
                val = validation_loss(
                    model, validation, tasks, weights, device, bf16, seed, train_weights
                )
                stop = tracker.update(step, val["loss"], ema)
                val_log.write(
                    {"step": step, "epoch": epoch, **{f"val_{k}": v for k, v in val.items()}}
                )
                best = tracker.best
                log(f"[train] step {step}: validation loss {val['loss']:.4f} (best {best:.4f})")
            stop = _agree(stop, info)  # rank 0's verdict; only on validation steps (it syncs)
        if stop or step % options.checkpoint_every == 0 or step == last_step:
            guard.check(info.world_size, saved_step, paths.last)  # never save a NaN model
            if info.is_main:
                state = (optimizer, scheduler, ema, loader)
                _save(paths, model, state, options, step, epoch, manifest, stats, tracker)
            saved_step = step
            distributed.barrier(info)
        if stop:
            log(f"[train] early stop at step {step}: no improvement in {options.patience} checks")
            break
    if step < options.steps and not tracker.stopped:
        log(f"[train] stopped at step {step} of {options.steps}; continue with resume")
        return {"steps": step, "finished": False, "checkpoint": str(paths.last)}
    if not info.is_main:
        return {"steps": step, "finished": True, "rank": info.rank}
    exported = tracker.weights if tracker.weights is not None else ema.shadow
    seconds = time.perf_counter() - start
    summary = _finish(paths, model, exported, options, manifest, stats, step, seconds)
    summary.update(tracker.summary())
    summary["steps_this_call"] = step - first_step
    summary["loader_stall_fraction"] = (waited_total + waited) / max(seconds, 1e-9)
    return summary


class _BestTracker:
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


def _agree(stop: bool, info: distributed.DistInfo) -> bool:
    """Rank 0 validates; every rank must stop at the same step."""
    if info.world_size == 1:
        return stop
    flag = torch.tensor([1.0 if stop else 0.0], device=info.device)
    torch.distributed.broadcast(flag, src=0)
    return bool(flag.item())


def _silent(_line: str) -> None:
    """Progress lines of ranks other than 0 (only rank 0 reports and writes)."""


def _wrap(model: EveNet, info: distributed.DistInfo, options: TrainOptions):
    """The callable computing the loss terms: DDP-wrapped on several processes (heads whose
    events are absent from a batch, or stage 1's idle heads, leave parameters unused)."""
    if options.compile:
        model.compile_body(options.compile_mode)
    wrapped = model
    if info.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [info.device.index] if info.device.type == "cuda" else None
        wrapped = DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
    return wrapped


def _payload(model, stats, manifest, weights=None) -> dict:
    payload = checkpoint_payload(
        model,
        stats=stats,
        class_map=manifest.get("class_map"),
        conversion=manifest.get("conversion"),
    )
    if weights is not None:
        payload["state_dict"] = weights
    return payload


def _save(paths, model, state, options, step, epoch, manifest, stats, tracker):
    optimizer, scheduler, ema, loader = state
    payload = _payload(model, stats, manifest)
    payload["extra"] = {
        "training": {
            "step": step,
            "epoch": epoch,
            "options": options.to_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "ema": ema.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "loader": loader.state_dict(),
            "best": tracker.state_dict(),
        }
    }
    save_checkpoint(paths.last, payload)


def _finished(path: Path, options: TrainOptions) -> bool:
    state = load_checkpoint(path).get("extra", {}).get("training", {})
    return int(state.get("step", 0)) >= options.steps


def _restore(path, model, optimizer, scheduler, ema, loader, options, tracker) -> tuple[int, int]:
    payload = load_checkpoint(path)
    state = payload.get("extra", {}).get("training")
    if state is None:
        raise CheckpointError(f"{path} holds no training state (not written by `evenet train`)")
    saved = {
        k: v
        for k, v in state["options"].items()
        # Options that change neither the model, the data order nor the optimisation.
        if k not in ("steps", "checkpoint_every", "log_every", "compile", "compile_mode")
    }
    now = {k: v for k, v in options.to_dict().items() if k in saved}
    differ = {k: (saved[k], now[k]) for k in saved if saved[k] != now[k]}
    if differ:
        raise CheckpointError(f"cannot resume {path}: options (saved, now) differ: {differ}")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(
            f"cannot resume {path}: it holds a model of another layout (first difference: "
            f"{str(error).splitlines()[1].strip()[:200]}); remove {path.parent} to start anew"
        ) from None
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    ema.load_state_dict(state["ema"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    loader.load_state_dict(state["loader"])
    tracker.load_state_dict(state.get("best", {}))
    return int(state["step"]), int(state["epoch"])


def _finish(paths, model, weights, options, manifest, stats, step, seconds) -> dict:
    """The exported model (EMA weights; with validation the best ones), plot, summary.json."""
    save_checkpoint(paths.model, _payload(model, stats, manifest, weights=weights))
    if paths.metrics.exists():
        validation = paths.validation if paths.validation.exists() else None
        title = f"{options.preset} preset: {'/'.join(paths.root.parts[-4:])}"
        plot_losses(paths.metrics, paths.loss_plot, title=title, validation=validation)
    summary = {
        "steps": step,
        "seconds": seconds,
        "model": str(paths.model),
        "metrics": str(paths.metrics),
        "loss_plot": str(paths.loss_plot),
        "tasks": list(model.heads.keys()),
        "finished": True,
    }
    paths.summary.write_text(json.dumps(summary, indent=1))
    return summary
