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
from dataclasses import replace
from pathlib import Path

import torch

from evenet.data.loader import make_loader
from evenet.io.manifest import STATS_NAME, load_manifest, manifest_path, sha256_file
from evenet.io.schema import TARGET_COLUMNS
from evenet.model.config import preset
from evenet.model.errors import CheckpointError
from evenet.model.heads.contract import spec
from evenet.model.model import EveNet
from evenet.train import checkpointing, distributed
from evenet.train.checkpointing import BestTracker, RunState
from evenet.train.ema import EMA
from evenet.train.guard import FiniteGuard
from evenet.train.metrics import MetricsLog
from evenet.train.options import TrainOptions
from evenet.train.paths import RunPaths
from evenet.train.progress import Progress
from evenet.train.schedule import lr_factor, masked_fraction
from evenet.train.step import Batches, optimizer_step
from evenet.train.transfer import freeze, param_groups
from evenet.train.validate import Validator, validation_loader
from evenet.train.weights import TrainWeights, process_factors

_INPUT_COLUMNS = ("x", "x_mask", "globals", "weight", "process")


def _columns(manifest: dict, tasks: tuple[str, ...]) -> list[str]:
    """Loader columns: the inputs and what the heads of ``tasks`` read (registry `columns`;
    ``label`` exists only with a class map, truth targets only where the dataset has them)."""
    wanted = [c for task in tasks for c in spec(task).columns]
    if not manifest.get("class_map"):
        wanted = [c for c in wanted if c != "label"]
    if not manifest.get("has_targets"):
        wanted = [c for c in wanted if c not in TARGET_COLUMNS]
    extra = [c for c in ("x_extra", "globals_extra") if manifest.get(c)]  # model inputs
    return list(dict.fromkeys([*_INPUT_COLUMNS, *extra, *wanted]))


def dataset_inputs(dataset: Path) -> tuple[dict, dict]:
    manifest = load_manifest(dataset)
    stats_path = manifest_path(dataset).parent / STATS_NAME
    if not stats_path.is_file():
        raise CheckpointError(f"{stats_path} is missing: run `evenet stats {dataset}` first")
    stats = json.loads(stats_path.read_text())
    if stats.get("manifest_sha256") != sha256_file(manifest_path(dataset)):
        raise CheckpointError(
            f"{stats_path} was computed for another version of {manifest_path(dataset)} (the "
            f"dataset was rebuilt since): run `evenet stats {dataset}` again"
        )
    return manifest, stats


def _tasks_for(manifest: dict, tasks: tuple[str, ...]) -> tuple[str, ...]:
    """Drop the supervised heads a dataset has no targets for (data, CMS files)."""
    if manifest.get("has_targets"):
        return tasks
    return tuple(t for t in tasks if not spec(t).needs_truth)


def build_model(options: TrainOptions, manifest: dict, stats: dict) -> EveNet:
    class_map = manifest.get("class_map") or {}
    num_classes = max(len(set(class_map.values())), 2)
    config = preset(
        options.preset, num_classes=num_classes, tasks=_tasks_for(manifest, options.tasks)
    )
    # A dataset with extra per-object (iso, ip3d) or per-event (M_ll, ...) features gives the
    # model those inputs.
    config = replace(
        config,
        x_extra=tuple(manifest.get("x_extra") or ()),
        globals_extra=tuple(manifest.get("globals_extra") or ()),
    )
    chosen = options.global_generation
    if chosen:  # the run's generated and condition globals (training.global_generation)
        heads = replace(
            config.heads,
            global_generate=tuple(chosen.get("generate") or ()),
            global_condition=tuple(chosen.get("condition") or ()),
        )
        config = replace(config, heads=heads)
    chosen = options.object_generation
    if chosen:  # the run's generated slots and condition globals (training.object_generation)
        heads = replace(
            config.heads,
            object_slots=tuple(chosen.get("slots") or config.heads.object_slots),
            object_condition=tuple(chosen.get("condition") or ()),
        )
        config = replace(config, heads=heads)
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
    resume: bool | str = False,
    model: EveNet | None = None,
    stats: dict | None = None,
    init: str = "random",
    stop_after: int | None = None,
    log=print,
) -> dict:
    """Train on the train split of ``dataset``; writes checkpoints, metrics and plots under
    ``run_dir`` (see RunPaths). Returns a summary dict (also written as summary.json).

    ``stop_after``: end this call after that many steps with a checkpoint (e.g. before a
    batch job's time limit). ``resume``: "no" (False) starts anew, replacing the run's
    outputs; "resume" (True) continues the checkpoint of these options, data and ``init``
    (an error naming what differs if there is none); "resume-or-start" continues it if it
    exists and starts anew otherwise (what the workflow does)."""
    info = distributed.setup()
    device = info.device
    if not info.is_main:
        log = _silent
    mode = ("resume" if resume else "no") if isinstance(resume, bool) else resume
    if mode not in checkpointing.RESUME_MODES:
        raise ValueError(f"resume must be one of {checkpointing.RESUME_MODES}, got {resume!r}")
    manifest, own_stats = dataset_inputs(Path(dataset))
    wanted = checkpointing.identity(options, manifest_path(Path(dataset)), init)
    paths = RunPaths(Path(run_dir), checkpointing.fingerprint(wanted))
    if info.is_main:
        paths.root.mkdir(parents=True, exist_ok=True)
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
        columns=_columns(manifest, tasks),
        max_events=options.train_events or None,
    )
    train_weights = TrainWeights(process_factors(dataset, options.mix, options.weighting))
    if len(loader) == 0:
        raise CheckpointError(
            f"{dataset}: fewer training events than one batch of {options.batch_size}"
        )
    state = _optimisation(model, options, device, loader, log)
    state.identity = wanted
    validation = None
    if options.eval_every and info.is_main:
        validation = validation_loader(dataset, options, _columns(manifest, tasks))
    step, epoch = _start(paths, model, state, options, mode, info, log)
    validator = None
    if validation is not None:
        val_log = MetricsLog(paths.validation, resume_step=step or None)
        validator = Validator(validation, val_log, state.tracker, options, log)
    metrics = MetricsLog(paths.metrics, resume_step=step or None) if info.is_main else None
    losses_fn = _wrap(model, info, options)
    if info.world_size > 1:
        log(f"[train] DDP over {info.world_size} processes; the loader shards events by rank")

    progress = Progress(metrics, options.steps, log)
    first_step = saved_step = step
    guard = FiniteGuard(device)
    batches = Batches(loader, epoch, device, train_weights)
    last_step = options.steps if stop_after is None else min(options.steps, step + stop_after)
    stop = False
    while step < last_step and not stop:
        stage1 = step < options.stage1_steps
        step_tasks = ("masked_generation",) if stage1 and "masked_generation" in tasks else tasks
        fraction = masked_fraction(
            step, options.stage1_steps, options.mask_fraction_start, options.mask_fraction_end
        )
        terms_sum, grad_norm = optimizer_step(
            model,
            losses_fn,
            state,
            batches,
            progress,
            guard,
            options,
            step=step,
            tasks=step_tasks,
            weights=weights,
            fraction=fraction,
            bf16=bf16,
        )
        step += 1
        if step % options.log_every == 0 or step == options.steps:  # every rank joins
            guard.check(info.world_size, saved_step, paths.last)
            logged = distributed.all_mean({t: float(v) for t, v in terms_sum.items()}, info)
            total = sum(weights[t] * v for t, v in logged.items())
            if info.is_main:
                row = {
                    "step": step,
                    "epoch": batches.epoch,
                    "lr": state.scheduler.get_last_lr()[0],
                    "mask_fraction": fraction if "masked_generation" in step_tasks else "",
                    "loss": total,
                    **{f"loss_{t}": logged.get(t, "") for t in tasks},
                    "grad_norm": float(grad_norm),
                }
                progress.record(row, total, info.world_size)
        if options.eval_every and step % options.eval_every == 0:  # the same on every rank
            if validator is not None:  # rank 0 validates
                stop = validator.run(
                    model,
                    state.ema,
                    step,
                    batches.epoch,
                    tasks,
                    weights,
                    device,
                    bf16,
                    train_weights,
                    fraction,
                )
            stop = _agree(stop, info)  # rank 0's verdict; only on validation steps (it syncs)
        if stop or step % options.checkpoint_every == 0 or step == last_step:
            guard.check(info.world_size, saved_step, paths.last)  # never save a NaN model
            if info.is_main:
                checkpointing.save(
                    paths, model, state, options, step, batches.epoch, manifest, stats
                )
            saved_step = step
            distributed.barrier(info)
        if stop:
            log(f"[train] early stop at step {step}: no improvement in {options.patience} checks")
    if step < options.steps and not state.tracker.stopped:
        log(f"[train] stopped at step {step} of {options.steps}; continue with resume")
        return {"steps": step, "finished": False, "checkpoint": str(paths.last)}
    if not info.is_main:
        return {"steps": step, "finished": True, "rank": info.rank}
    tracker = state.tracker
    exported = tracker.weights if tracker.weights is not None else state.ema.shadow
    seconds = time.perf_counter() - progress.start
    hardware = {"device": _device_name(device), "world_size": info.world_size, "bf16": bf16}
    summary = checkpointing.export(
        paths, model, exported, options, manifest, stats, step, seconds, hardware
    )
    summary.update(tracker.summary())
    summary["steps_this_call"] = step - first_step
    summary["loader_stall_fraction"] = progress.stall_fraction()
    return summary


def _optimisation(model, options: TrainOptions, device, loader, log) -> RunState:
    """Freezing, AdamW over the parameter groups, the LR schedule, EMA, the best tracker."""
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
    return RunState(optimizer, scheduler, ema, loader, BestTracker(options.patience))


def _start(paths: RunPaths, model, state: RunState, options, mode: str, info, log):
    """(step, epoch) to start from: the checkpoint's for an interrupted run of the same
    options and data (timeout, preemption); otherwise 0, after removing the previous run's
    outputs (a rerun of a finished run, other options or data, or no resume asked)."""
    if mode != "no" and paths.last.exists():
        if not checkpointing.finished(paths.last, options):
            step, epoch = checkpointing.restore(paths.last, model, state, options)
            log(f"[train] resumed from {paths.last} at step {step} (epoch {epoch})")
            return step, epoch
        log(f"[train] {paths.last} is a finished run of {options.steps} steps: starting anew")
    elif mode == "resume":
        raise CheckpointError(checkpointing.why_not_resumable(paths, state.identity))
    distributed.barrier(info)  # every rank has looked at the checkpoint before it goes
    if info.is_main:
        checkpointing.clear_run(paths)
        paths.root.mkdir(parents=True, exist_ok=True)
    distributed.barrier(info)
    return 0, 0


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


def _device_name(device: torch.device) -> str:
    """What trained, for the summary and the report: "cpu" or the CUDA device's name."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return device.type
