"""`evenet sample` (the rule template `sample` of workflow/rules/sample.smk)."""

from __future__ import annotations

import json

from evenet import arguments


def register(commands) -> None:
    parser = commands.add_parser(
        "sample",
        help="generate events with a fine-tuned model given condition columns",
        description="Generate events with a model fine-tuned with the object_generation task "
        "(and optionally global_generation): one generated event per row of --conditions times "
        "--oversample, written in the point-cloud schema (sample 'generated', run = seed).",
    )
    parser.add_argument("--checkpoint", required=True, help="model.pt of a fine-tuning run")
    parser.add_argument(
        "--conditions",
        required=True,
        help="Parquet file with one named column per condition the model needs (e.g. M_ll)",
    )
    parser.add_argument("--output", required=True, help="Parquet file to write")
    parser.add_argument("--seed", type=int, required=True, help="sampling seed (also the run)")
    parser.add_argument(
        "--steps", type=int, default=25, help="denoising steps per generator (default 25)"
    )
    parser.add_argument(
        "--oversample", type=int, default=1, help="events per condition row (default 1)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=4096, help="events per model call (default 4096)"
    )
    parser.set_defaults(handler=run_sample)


def run_sample(args) -> int:
    from evenet.sampling.sample import sample_events

    summary = sample_events(
        args.checkpoint,
        args.conditions,
        args.output,
        seed=args.seed,
        steps=args.steps,
        oversample=args.oversample,
        batch_size=args.batch_size,
        log=arguments.log_line,
    )
    print(json.dumps(summary))
    return 0
