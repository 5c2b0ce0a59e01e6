"""`evenet pretrain | finetune | predict` (rules pretrain, finetune and predict)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evenet import arguments
from evenet.errors import UsageError


def _run_dir_args() -> argparse.ArgumentParser:
    """Dataset, run directory and resume: what pretraining and fine-tuning share."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--dataset", required=True, help="dataset folder (with stats.json)")
    parent.add_argument("--output", required=True, help="run directory")
    resume = parent.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume",
        action="store_true",
        help="continue the run's checkpoint of these options and data (an error if none)",
    )
    resume.add_argument(
        "--resume-or-start",
        action="store_true",
        help="continue that checkpoint if there is one, else start anew (the workflow's choice)",
    )
    return parent


def _resume_mode(args) -> str:
    return "resume-or-start" if args.resume_or_start else "resume" if args.resume else "no"


def register(commands) -> None:
    common = [_run_dir_args(), arguments.config_files(), arguments.job_options()]
    pretrain = commands.add_parser(
        "pretrain", help="progressive pretraining on a dataset", parents=common
    )
    pretrain.add_argument(
        "--stop-after",
        type=arguments.positive_int,
        default=None,
        help="end after N steps (resumable)",
    )
    pretrain.add_argument(
        "--steps", type=arguments.positive_int, help="override training.pretrain.steps"
    )
    pretrain.set_defaults(handler=run_pretrain)

    finetune = commands.add_parser(
        "finetune", help="fine-tune a pretrained body on a dataset", parents=common
    )
    finetune.add_argument("--pretrained", help="pretrained model.pt (not with --scratch)")
    finetune.add_argument("--scratch", action="store_true", help="random init, same model")
    finetune.add_argument("--heads", action="store_true", help="also load matching heads")
    finetune.add_argument("--seed", type=int, help="override training.finetune.seed")
    finetune.add_argument(
        "--train-events",
        type=arguments.positive_int,
        help="a fixed subset of the training split (size scans)",
    )
    finetune.add_argument(
        "--events",
        metavar="PARQUET",
        help="train and validate on these events only (columns sample, run, event)",
    )
    finetune.add_argument(
        "--stratify",
        nargs="+",
        metavar="CLASS=SHARE",
        help="with --events: exact class shares of train and val, e.g. signal=0.1",
    )
    finetune.add_argument(
        "--val-fraction", type=float, help="with --events: re-split train/val by a fixed hash"
    )
    finetune.add_argument(
        "--include-test",
        action="store_true",
        help="with --events and --val-fraction: listed test-split events train and validate too",
    )
    finetune.set_defaults(handler=run_finetune)

    predict = commands.add_parser(
        "predict",
        help="per-event outputs of a model on some splits",
        parents=[arguments.job_options()],
    )
    predict.add_argument("--checkpoint", required=True, help="model.pt of a training run")
    predict.add_argument("--dataset", required=True, help="dataset folder")
    predict.add_argument("--output", required=True, help="Parquet file to write")
    predict.add_argument(
        "--splits",
        nargs="+",
        choices=("train", "val", "test"),
        help="splits to predict, into one file with a split column (default: test)",
    )
    predict.add_argument(
        "--neutrino-samples", type=int, help="neutrino solutions per event (default 0)"
    )
    predict.add_argument(
        "--diffusion-steps", type=int, help="sampler steps per neutrino sample (default 25)"
    )
    predict.add_argument(
        "--hypotheses",
        nargs="+",
        metavar="TOPOLOGY",
        help="topologies whose assignment is predicted for every event (default: none)",
    )
    predict.add_argument("--seed", type=int, default=0, help="seed of the diffusion sampling")
    predict.set_defaults(handler=run_predict)


def training_values(args, section: str) -> dict:
    """training.<section> of the --config files, or the "training" of a job's --options; the
    values that differ from the schema defaults are printed (provenance in the job log)."""
    from evenet import job_options
    from evenet.config import default_config_path, load_config, section_defaults

    if args.options:
        values = dict(job_options.parse(args.options).get("training") or {})
    else:
        values = dict(load_config(args.config or [default_config_path()])["training"][section])
    changed = job_options.differences(values, section_defaults("training", section))
    print(
        f"[{section}] options differing from the defaults: " + ("; ".join(changed) or "none"),
        file=sys.stderr,
    )
    return values


def run_pretrain(args) -> int:
    from evenet.train.options import TrainOptions
    from evenet.train.trainer import train

    values = training_values(args, "pretrain")
    if args.steps:
        values["steps"] = args.steps
    summary = train(
        args.dataset,
        args.output,
        TrainOptions.from_dict(values),
        resume=_resume_mode(args),
        stop_after=args.stop_after,
        log=arguments.log_line,
    )
    print(f"pretrain: {summary}", file=sys.stderr)
    return 0


def run_finetune(args) -> int:
    from evenet import job_options
    from evenet.train.finetune import finetune
    from evenet.train.options import TrainOptions

    heads: bool | list[str] = args.heads
    events = {"stratify": shares(args.stratify), "val_fraction": args.val_fraction}
    options = job_options.parse(args.options) if args.options else {}
    if options:
        heads = list(options.get("load_heads") or [])
        events = options.get("events") or events
        if options.get("mode") == "scratch" and not args.scratch:
            raise UsageError("--options is for a scratch run: give --scratch")
    selection = None
    if args.events:
        from evenet.io.selection import Selection

        selection = Selection(
            Path(args.events),
            None,
            events["stratify"],
            events["val_fraction"],
            bool(events.get("include_test", args.include_test)),
        )
    elif options.get("events"):
        raise UsageError("this run trains on selected events: give --events PARQUET")
    if args.scratch == bool(args.pretrained):
        raise UsageError("give exactly one of --pretrained CHECKPOINT and --scratch")
    values = training_values(args, "finetune")
    if args.seed is not None:
        values["seed"] = args.seed
    if args.train_events is not None:
        values["train_events"] = args.train_events
    summary = finetune(
        args.dataset,
        args.output,
        TrainOptions.from_dict(values),
        pretrained=args.pretrained,
        scratch=args.scratch,
        load_heads=heads,
        selection=selection,
        resume=_resume_mode(args),
        log=arguments.log_line,
    )
    print(f"finetune: {summary}", file=sys.stderr)
    return 0


def shares(specs: list[str] | None) -> dict[str, float] | None:
    """``["signal=0.1"]`` -> {"signal": 0.1}."""
    if not specs:
        return None
    found = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        try:
            found[name] = float(value)
        except ValueError:
            raise UsageError(f"--stratify takes CLASS=SHARE, got {spec!r}") from None
    return found


def run_predict(args) -> int:
    from evenet import job_options
    from evenet.train.predict import predict

    settings = dict(job_options.PREDICT_DEFAULTS)
    if args.options:
        settings.update(job_options.parse(args.options))
    for key in ("splits", "neutrino_samples", "diffusion_steps", "hypotheses"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    changed = job_options.differences(settings, job_options.PREDICT_DEFAULTS)
    print(
        "[predict] options differing from the defaults: " + ("; ".join(changed) or "none"),
        file=sys.stderr,
    )
    result = predict(
        args.checkpoint,
        args.dataset,
        args.output,
        splits=settings["splits"],
        neutrino_samples=settings["neutrino_samples"],
        diffusion_steps=settings["diffusion_steps"],
        hypotheses=settings["hypotheses"],
        seed=args.seed,
        log=arguments.log_line,
    )
    print(f"predict: {result}", file=sys.stderr)
    return 0
