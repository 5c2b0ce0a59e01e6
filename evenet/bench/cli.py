"""`evenet bench generate | convert | loader | train | model | sample`: one JSON object each
(--json)."""

from __future__ import annotations

import argparse
from pathlib import Path

from evenet import arguments
from evenet.errors import UsageError
from evenet.model.config import COMPILE_MODES


def register(commands) -> None:
    bench = commands.add_parser("bench", help="benchmarks, one JSON object each with --json")
    # sub-benchmarks report bad arguments like every other command (one line)
    benches = bench.add_subparsers(dest="bench", required=True, parser_class=type(bench))
    json_output = arguments.json_output()

    from evenet.generation.cli import add_generation_args

    generate = benches.add_parser(
        "generate",
        help="generation stage vs. plain Pythia",
        parents=[arguments.config_files(), json_output],
    )
    add_generation_args(generate)
    generate.set_defaults(handler=run_generate)

    convert = benches.add_parser(
        "convert",
        help="conversion to point clouds",
        parents=[arguments.config_files(), json_output],
    )
    convert.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="FILE_OR_GLOB",
        help="ntuples to convert as one sample (use >= 100k events)",
    )
    convert.set_defaults(handler=run_convert)

    loader = benches.add_parser(
        "loader", help="streaming loader throughput and memory", parents=[json_output]
    )
    loader.add_argument("--dataset", help="dataset folder (default: a synthetic one)")
    loader.add_argument(
        "--events",
        type=arguments.positive_int,
        default=200_000,
        help="events of the synthetic dataset (default 200000)",
    )
    loader.set_defaults(handler=run_loader)

    compile_options = _compile_options()
    train = benches.add_parser(
        "train",
        help="the training loop: rate, memory, stalls",
        parents=[compile_options, json_output],
    )
    train.add_argument("--preset", default="tiny", help="tiny | lite | standard")
    train.add_argument("--dataset", help="dataset folder (default: a synthetic one)")
    train.add_argument("--steps", type=arguments.positive_int, default=30)
    train.add_argument("--batch-size", type=arguments.positive_int, default=256)
    train.add_argument("--workers", type=int, default=2, help="loader worker processes")
    train.add_argument(
        "--finetune", action="store_true", help="classification + assignment only (one copy)"
    )
    train.add_argument(
        "--warmup", type=arguments.positive_int, default=5, help="untimed steps first (default 5)"
    )
    train.add_argument(
        "--events",
        type=arguments.positive_int,
        default=30_000,
        help="events of the synthetic dataset (default 30000)",
    )
    train.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bf16 autocast (default: on with a GPU)",
    )
    train.set_defaults(handler=run_train)

    model = benches.add_parser(
        "model",
        help="training-step throughput of a preset",
        parents=[compile_options, json_output],
    )
    model.add_argument("--preset", default="tiny", help="tiny | lite | standard")
    model.add_argument(
        "--batch-size",
        type=arguments.positive_int,
        default=None,
        help="events per step (default by preset)",
    )
    model.add_argument("--steps", type=arguments.positive_int, default=5, help="timed steps")
    model.add_argument(
        "--mode",
        choices=("pretrain", "finetune"),
        default="pretrain",
        help="pretrain: all pretraining losses (clean + noised copy); finetune: one clean copy, "
        "classification + assignment",
    )
    model.add_argument("--device", default=None, help="cpu or cuda (default: cuda if any)")
    model.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    model.add_argument(
        "--profile", metavar="FILE", help="also profile one step; operator table to FILE"
    )
    model.add_argument(
        "--topologies",
        type=lambda text: [t for t in text.split(",") if t],
        default=None,
        metavar="NAMES",
        help="assignment heads for these topologies only (comma-separated; default: all), "
        "e.g. haa_4b for the fine-tuning of the haa analysis",
    )
    model.add_argument(
        "--audit",
        action="store_true",
        help="also report, by source line, the float32 matrix products and (CUDA) the host "
        "syncs of one step",
    )
    model.set_defaults(handler=run_model)

    sample = benches.add_parser(
        "sample",
        help="evenet sample: generated events per second",
        parents=[json_output],
    )
    sample.add_argument(
        "--preset", default="tiny", help="preset of the built-in dimuon generator (default tiny)"
    )
    sample.add_argument("--checkpoint", help="a generator model.pt instead (needs --conditions)")
    sample.add_argument("--conditions", help="its condition file (Parquet)")
    sample.add_argument(
        "--events",
        type=arguments.positive_int,
        default=20_000,
        help="events of the built-in generator's condition file (default 20000)",
    )
    sample.add_argument("--steps", type=arguments.positive_int, default=25)
    sample.add_argument("--batch-size", type=arguments.positive_int, default=4096)
    sample.set_defaults(handler=run_sample)


def _compile_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--compile", action="store_true", help="torch.compile the body")
    parent.add_argument(
        "--compile-mode",
        choices=COMPILE_MODES,
        default=None,
        help="torch.compile mode (implies --compile; reduce-overhead: CUDA graphs)",
    )
    return parent


def _compile(args) -> dict:
    return {
        "compile": args.compile or args.compile_mode is not None,
        "compile_mode": args.compile_mode or "default",
    }


def run_generate(args) -> int:
    from evenet.bench.common import print_result
    from evenet.bench.stages import bench_generate
    from evenet.generation.cli import resolve
    from evenet.generation.lhe import readable_lhe

    config, process, lhe, _ = resolve(args)
    with readable_lhe(lhe) as lhe_path:
        result = bench_generate(process, args.events, args.seed, config, lhe=lhe_path)
    print_result(result, as_json=args.json)
    return 0


def run_convert(args) -> int:
    from evenet.bench.common import print_result
    from evenet.bench.stages import bench_convert
    from evenet.config import default_config_path, load_config

    config = load_config(args.config or [default_config_path()])
    inputs = arguments.expand_inputs(args.input)
    print_result(bench_convert(inputs, config), as_json=args.json)
    return 0


def run_loader(args) -> int:
    from evenet.bench.common import print_result
    from evenet.bench.loader import bench_loader

    print_result(bench_loader(args.dataset, events=args.events), as_json=args.json)
    return 0


def run_train(args) -> int:
    from evenet.bench.common import print_result
    from evenet.bench.train import bench_train

    result = bench_train(
        args.preset,
        dataset=args.dataset,
        steps=args.steps,
        batch_size=args.batch_size,
        num_workers=args.workers,
        finetune=args.finetune,
        warmup=args.warmup,
        events=args.events,
        bf16=args.bf16,
        **_compile(args),
    )
    print_result(result, as_json=args.json)
    return 0


def run_model(args) -> int:
    from evenet.bench.common import print_result
    from evenet.bench.model import bench_model

    if args.profile and not Path(args.profile).resolve().parent.is_dir():
        raise UsageError(f"--profile {args.profile}: its folder does not exist")
    result = bench_model(
        args.preset,
        batch_size=args.batch_size,
        steps=args.steps,
        mode=args.mode,
        device=args.device,
        bf16=args.bf16,
        profile=args.profile,
        audit=args.audit,
        topologies=args.topologies,
        **_compile(args),
    )
    print_result(result, as_json=args.json)
    return 0


def run_sample(args) -> int:
    from evenet.bench.common import print_result
    from evenet.bench.sample import bench_sample

    if (args.checkpoint is None) != (args.conditions is None):
        raise UsageError("give --checkpoint and --conditions together (or neither)")
    result = bench_sample(
        preset=args.preset,
        checkpoint=args.checkpoint,
        conditions=args.conditions,
        events=args.events,
        steps=args.steps,
        batch_size=args.batch_size,
    )
    print_result(result, as_json=args.json)
    return 0
