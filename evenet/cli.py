"""`evenet` command line: generate, convert, dataset, stats, model, pretrain, finetune, predict,
bench.

Every subcommand runs the same functions a Snakemake rule calls. Bad input gives one
line on stderr ("evenet: error: ...") and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evenet.generation.catalogue import EXTERNAL_LHE, CatalogueError
from evenet.model.config import COMPILE_MODES


class UsageError(ValueError):
    """A command-line argument is unusable; the message says what to fix."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _add_options_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--options",
        metavar="JSON",
        help="the job's resolved options as one JSON object (what the workflow passes; "
        "evenet.job_options) instead of --config files",
    )


def _add_generation_args(parser: argparse.ArgumentParser, output_required: bool) -> None:
    parser.add_argument(
        "--process",
        help=f"process name from config/processes.yaml (default with --lhe: {EXTERNAL_LHE})",
    )
    parser.add_argument(
        "--events", type=_positive_int, help="events to generate (required without --options)"
    )
    parser.add_argument(
        "--seed",
        type=_positive_int,
        default=1,
        help="Pythia seed, also the ntuple's run number (1..900000000)",
    )
    parser.add_argument(
        "--lhe",
        help="shower this LHE file (.lhe or .lhe.gz) instead of a "
        "built-in process; beams and energy come from the file",
    )
    parser.add_argument(
        "--config",
        nargs="+",
        default=None,
        metavar="CFG",
        help="config files in layering order (default: config/config.yaml)",
    )
    parser.add_argument(
        "--catalogue", default=None, help="process catalogue (default: config/processes.yaml)"
    )
    if output_required:
        parser.add_argument("--output", required=True, help="ROOT file to write")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump), exit status 2."""

    def error(self, message):
        self.exit(2, f"evenet: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="evenet", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    generate = commands.add_parser("generate", help="Pythia 8 + detector -> ROOT ntuple")
    _add_generation_args(generate, output_required=True)
    _add_options_arg(generate)

    convert = commands.add_parser("convert", help="reconstruction files -> Parquet point clouds")
    convert.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="FILE_OR_GLOB",
        help="input files of ONE sample (globs are expanded, sorted)",
    )
    convert.add_argument("--output", required=True, help="output folder (shards + manifest.json)")
    convert.add_argument("--sample", help="sample name (default: the output folder's name)")
    convert.add_argument(
        "--format",
        default="nanoaod",
        choices=["nanoaod", "delphes", "table"],
        help="nanoaod: our ntuples or CMS NanoAOD (default)",
    )
    convert.add_argument(
        "--topology",
        help="force one topology of config/topologies.yaml "
        "(default: the topologies listing the sample's process)",
    )
    convert.add_argument(
        "--variant",
        help="a conversion variant of conversion_variants (default: the base conversion section)",
    )
    convert.add_argument(
        "--table-format", help="column map for --format table (config/table_formats/*.yaml)"
    )
    convert.add_argument(
        "--config",
        nargs="+",
        default=None,
        metavar="CFG",
        help="config files in layering order (default: config/config.yaml)",
    )
    _add_options_arg(convert)

    dataset = commands.add_parser("dataset", help="a dataset manifest over converted samples")
    dataset.add_argument("--name", help="dataset name (required without --options)")
    dataset.add_argument(
        "--samples",
        nargs="+",
        required=True,
        metavar="DIR",
        help="converted sample folders (or their manifest.json)",
    )
    dataset.add_argument("--output", required=True, help="dataset folder (manifest.json)")
    dataset.add_argument(
        "--classes",
        nargs="+",
        metavar="CLASS",
        help="classes in order: a process name or NAME=proc1+proc2 "
        "(default: one class per process id present)",
    )
    _add_options_arg(dataset)

    stats = commands.add_parser("stats", help="stats.json of a dataset and a printed summary")
    stats.add_argument("dataset", help="dataset or sample folder (or its manifest.json)")

    pretrain = commands.add_parser("pretrain", help="progressive pretraining on a dataset")
    pretrain.add_argument("--dataset", required=True, help="dataset folder (with stats.json)")
    pretrain.add_argument("--output", required=True, help="run directory")
    pretrain.add_argument("--config", nargs="+", default=None, metavar="CFG")
    pretrain.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt")
    pretrain.add_argument(
        "--stop-after", type=_positive_int, default=None, help="end after N steps (resumable)"
    )
    pretrain.add_argument("--steps", type=_positive_int, help="override training.pretrain.steps")
    _add_options_arg(pretrain)

    finetune = commands.add_parser("finetune", help="fine-tune a pretrained body on a dataset")
    finetune.add_argument("--dataset", required=True, help="analysis dataset folder")
    finetune.add_argument("--output", required=True, help="run directory")
    finetune.add_argument("--pretrained", help="pretrained model.pt (not with --scratch)")
    finetune.add_argument("--scratch", action="store_true", help="random init, same model")
    finetune.add_argument("--heads", action="store_true", help="also load matching heads")
    finetune.add_argument("--seed", type=int, help="override training.finetune.seed")
    finetune.add_argument(
        "--train-events", type=int, help="a fixed subset of the training split (size scans)"
    )
    finetune.add_argument("--config", nargs="+", default=None, metavar="CFG")
    finetune.add_argument("--resume", action="store_true", help="continue checkpoints/last.pt")
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
    _add_options_arg(finetune)

    predict = commands.add_parser("predict", help="per-event outputs of a model on a split")
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
    predict.add_argument("--diffusion-steps", type=int, help="DDIM steps per sample (default 20)")
    predict.add_argument("--seed", type=int, default=0, help="seed of the diffusion sampling")
    _add_options_arg(predict)

    model = commands.add_parser("model", help="build a model preset; print its parameters")
    model.add_argument("--preset", default="tiny", help="tiny | lite | standard (default tiny)")
    model.add_argument(
        "--checkpoint", help="describe the model stored in this checkpoint instead of a preset"
    )
    model.add_argument("--summary", action="store_true", help="parameters per module")
    model.add_argument("--json", action="store_true", help="print one JSON object")

    bench = commands.add_parser("bench", help="benchmarks, one JSON object each with --json")
    benches = bench.add_subparsers(dest="bench", required=True, parser_class=_Parser)
    bench_generate = benches.add_parser("generate", help="generation stage vs. plain Pythia")
    _add_generation_args(bench_generate, output_required=False)
    bench_generate.add_argument("--json", action="store_true", help="print one JSON object")
    bench_convert = benches.add_parser("convert", help="conversion to point clouds")
    bench_convert.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="FILE_OR_GLOB",
        help="ntuples to convert as one sample (use >= 100k events)",
    )
    bench_convert.add_argument("--config", nargs="+", default=None, metavar="CFG")
    bench_convert.add_argument("--json", action="store_true", help="print one JSON object")
    bench_loader = benches.add_parser("loader", help="streaming loader throughput and memory")
    bench_loader.add_argument("--dataset", help="dataset folder (default: a synthetic one)")
    bench_loader.add_argument(
        "--events",
        type=_positive_int,
        default=200_000,
        help="events of the synthetic dataset (default 200000)",
    )
    bench_loader.add_argument("--json", action="store_true", help="print one JSON object")
    bench_train = benches.add_parser("train", help="the training loop: rate, memory, stalls")
    bench_train.add_argument("--preset", default="tiny", help="tiny | lite | standard")
    bench_train.add_argument("--dataset", help="dataset folder (default: a synthetic one)")
    bench_train.add_argument("--steps", type=_positive_int, default=30)
    bench_train.add_argument("--batch-size", type=_positive_int, default=256)
    bench_train.add_argument("--workers", type=int, default=2, help="loader worker processes")
    bench_train.add_argument(
        "--finetune", action="store_true", help="classification + assignment only (one copy)"
    )
    bench_train.add_argument(
        "--warmup", type=_positive_int, default=5, help="untimed steps first (default 5)"
    )
    bench_train.add_argument(
        "--events",
        type=_positive_int,
        default=30_000,
        help="events of the synthetic dataset (default 30000)",
    )
    bench_train.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bf16 autocast (default: on with a GPU)",
    )
    _add_compile_options(bench_train)
    bench_train.add_argument("--json", action="store_true", help="print one JSON object")
    bench_model = benches.add_parser("model", help="training-step throughput of a preset")
    bench_model.add_argument("--preset", default="tiny", help="tiny | lite | standard")
    bench_model.add_argument(
        "--batch-size", type=_positive_int, default=None, help="events per step (default by preset)"
    )
    bench_model.add_argument("--steps", type=_positive_int, default=5, help="timed steps")
    bench_model.add_argument(
        "--mode",
        choices=("pretrain", "finetune"),
        default="pretrain",
        help="pretrain: all pretraining losses (clean + noised copy); finetune: one clean copy, "
        "classification + assignment",
    )
    bench_model.add_argument("--device", default=None, help="cpu or cuda (default: cuda if any)")
    bench_model.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    _add_compile_options(bench_model)
    bench_model.add_argument(
        "--profile", metavar="FILE", help="also profile one step; operator table to FILE"
    )
    bench_model.add_argument(
        "--topologies",
        type=lambda text: [t for t in text.split(",") if t],
        default=None,
        metavar="NAMES",
        help="assignment heads for these topologies only (comma-separated; default: all), "
        "e.g. haa_4b for the fine-tuning of the haa analysis",
    )
    bench_model.add_argument(
        "--audit",
        action="store_true",
        help="also report, by source line, the float32 matrix products and (CUDA) the host "
        "syncs of one step",
    )
    bench_model.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _add_compile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--compile", action="store_true", help="torch.compile the body")
    parser.add_argument(
        "--compile-mode",
        choices=COMPILE_MODES,
        default=None,
        help="torch.compile mode (implies --compile; reduce-overhead: CUDA graphs)",
    )


def _generation_from_options(args):
    """Config (generation and detector sections) and process of a workflow job's --options."""
    from evenet import job_options
    from evenet.generation.catalogue import process_from_dict

    options = job_options.parse(args.options)
    try:
        args.events, args.seed = int(options["events"]), int(options["seed"])
        config = {"generation": options["generation"], "detector": options["detector"]}
        return config, process_from_dict(options["process"])
    except (KeyError, TypeError, ValueError) as error:
        raise UsageError(f"--options lacks a generation setting: {error!r}") from None


def _resolve(args):
    """Config, process and inputs of a generation command, checked."""
    from evenet.config import default_config_path, load_config
    from evenet.generation.catalogue import DEFAULT_CATALOGUE, get_process
    from evenet.generation.seeds import PYTHIA_MAX_SEED

    if getattr(args, "options", None):
        config, process = _generation_from_options(args)
    else:
        if args.events is None:
            raise UsageError("give --events N (the number of events to generate)")
        config = load_config(args.config or [default_config_path()])
        name = args.process or (EXTERNAL_LHE if args.lhe else None)
        if name is None:
            raise UsageError("give --process NAME (or --lhe FILE to shower external events)")
        process = get_process(name, args.catalogue or DEFAULT_CATALOGUE)
    if args.seed > PYTHIA_MAX_SEED:
        raise UsageError(
            f"--seed must be at most {PYTHIA_MAX_SEED} (Pythia's range), got {args.seed}"
        )
    lhe = None
    if args.lhe:
        from evenet.generation.lhe import check_lhe

        lhe = check_lhe(args.lhe)
    output = getattr(args, "output", None)
    if output is not None:
        output = Path(output)
        if output.suffix != ".root":
            raise UsageError(f"--output must end in .root, got {output}")
        if not output.parent.is_dir():
            raise UsageError(f"output directory {output.parent} does not exist (create it first)")
    return config, process, lhe, output


def _generate(args) -> int:
    from evenet.generation.generate import generate_shard
    from evenet.generation.lhe import readable_lhe

    config, process, lhe, output = _resolve(args)
    with readable_lhe(lhe) as lhe_path:
        summary = generate_shard(
            process, args.events, args.seed, output, config, lhe=lhe_path, progress=not args.quiet
        )
    print(
        f"wrote {summary.output}: {summary.events} events of {process.name} in "
        f"{summary.seconds:.1f} s, sigma = {summary.xsec_pb:.4g} +- {summary.xsec_err_pb:.2g} pb",
        file=sys.stderr,
    )
    return 0


def _training_values(args, section: str) -> dict:
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


def _pretrain(args) -> int:
    from evenet.train.options import TrainOptions
    from evenet.train.trainer import train

    values = _training_values(args, "pretrain")
    if args.steps:
        values["steps"] = args.steps
    summary = train(
        args.dataset,
        args.output,
        TrainOptions.from_dict(values),
        resume=args.resume,
        stop_after=args.stop_after,
        log=lambda line: print(line, file=sys.stderr),
    )
    print(f"pretrain: {summary}", file=sys.stderr)
    return 0


def _finetune(args) -> int:
    from evenet import job_options
    from evenet.train.finetune import finetune
    from evenet.train.options import TrainOptions

    heads: bool | list[str] = args.heads
    events = {"stratify": _shares(args.stratify), "val_fraction": args.val_fraction}
    if args.options:
        options = job_options.parse(args.options)
        heads = list(options.get("load_heads") or [])
        events = options.get("events") or events
        if options.get("mode") == "scratch" and not args.scratch:
            raise UsageError("--options is for a scratch run: give --scratch")
    selection = None
    if args.events:
        from evenet.io.selection import Selection

        selection = Selection(Path(args.events), None, events["stratify"], events["val_fraction"])
    elif args.options and options.get("events"):
        raise UsageError("this run trains on selected events: give --events PARQUET")
    if args.scratch == bool(args.pretrained):
        raise UsageError("give exactly one of --pretrained CHECKPOINT and --scratch")
    values = _training_values(args, "finetune")
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
        resume=args.resume,
        log=lambda line: print(line, file=sys.stderr),
    )
    print(f"finetune: {summary}", file=sys.stderr)
    return 0


def _shares(specs: list[str] | None) -> dict[str, float] | None:
    """``["signal=0.1"]`` -> {"signal": 0.1}."""
    if not specs:
        return None
    shares = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        try:
            shares[name] = float(value)
        except ValueError:
            raise UsageError(f"--stratify takes CLASS=SHARE, got {spec!r}") from None
    return shares


def _predict(args) -> int:
    from evenet import job_options
    from evenet.train.predict import predict

    settings = dict(job_options.PREDICT_DEFAULTS)
    if args.options:
        settings.update(job_options.parse(args.options))
    for key in ("splits", "neutrino_samples", "diffusion_steps"):
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
        seed=args.seed,
        log=lambda line: print(line, file=sys.stderr),
    )
    print(f"predict: {result}", file=sys.stderr)
    return 0


def _model(args) -> int:
    import json

    from evenet.model.summary import build_for_summary, format_table, parameter_table

    table = parameter_table(build_for_summary(args.preset, args.checkpoint))
    if args.json:
        print(json.dumps(table))
    elif args.summary:
        print(format_table(table))
    else:
        print(
            f"{table['preset']}: {table['params_total']:,} parameters "
            f"(body {table['params_body']:,}, heads {table['params_heads']:,})"
        )
    return 0


def _bench(args) -> int:
    if args.bench == "train":
        from evenet.bench import print_result
        from evenet.train.bench import bench_train

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
            compile=args.compile or args.compile_mode is not None,
            compile_mode=args.compile_mode or "default",
        )
        print_result(result, as_json=args.json)
        return 0
    if args.bench == "model":
        from evenet.bench import print_result
        from evenet.model.bench import bench_model

        if args.profile and not Path(args.profile).resolve().parent.is_dir():
            raise UsageError(f"--profile {args.profile}: its folder does not exist")
        result = bench_model(
            args.preset,
            batch_size=args.batch_size,
            steps=args.steps,
            mode=args.mode,
            device=args.device,
            bf16=args.bf16,
            compile=args.compile or args.compile_mode is not None,
            compile_mode=args.compile_mode or "default",
            profile=args.profile,
            audit=args.audit,
            topologies=args.topologies,
        )
        print_result(result, as_json=args.json)
        return 0
    if args.bench == "loader":
        from evenet.bench import print_result
        from evenet.data.bench import bench_loader

        print_result(bench_loader(args.dataset, events=args.events), as_json=args.json)
        return 0
    if args.bench == "convert":
        from evenet.bench import bench_convert, print_result
        from evenet.config import default_config_path, load_config

        config = load_config(args.config or [default_config_path()])
        print_result(bench_convert(_expand_inputs(args.input), config), as_json=args.json)
        return 0
    return _bench_generate(args)


def _bench_generate(args) -> int:
    from evenet.bench import bench_generate, print_result
    from evenet.generation.lhe import readable_lhe

    config, process, lhe, _ = _resolve(args)
    with readable_lhe(lhe) as lhe_path:
        result = bench_generate(process, args.events, args.seed, config, lhe=lhe_path)
    print_result(result, as_json=args.json)
    return 0


def _expand_inputs(patterns: list[str]) -> list[Path]:
    import glob

    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise UsageError(f"no input file matches '{pattern}'")
        paths += [Path(m) for m in matches]
    return paths


def _convert(args) -> int:
    from evenet import job_options
    from evenet.config import conversion_config, default_config_path, load_config
    from evenet.io.convert import convert_sample

    if args.options:
        options = job_options.parse(args.options)
        job_options.check_topologies(options)
        config = {"conversion": options["conversion"], "readers": options["readers"]}
        args.sample = args.sample or options.get("sample")
    else:
        config = load_config(args.config or [default_config_path()])
        config["conversion"] = conversion_config(config, args.variant)
    inputs = _expand_inputs(args.input)
    output = Path(args.output)
    if not output.parent.is_dir():
        raise UsageError(f"the parent of --output ({output.parent}) does not exist")
    convert_sample(
        inputs,
        output,
        args.sample or output.name,
        config,
        fmt=args.format,
        topology=args.topology,
        table_format=args.table_format,
        log=lambda line: print(line, file=sys.stderr),
    )
    return 0


def _dataset(args) -> int:
    from evenet.generation.catalogue import load_catalogue
    from evenet.io.dataset import build_dataset, parse_classes

    name, expressions = args.name, args.classes
    if args.options:
        from evenet import job_options

        options = job_options.parse(args.options)
        name, expressions = options.get("name", name), options.get("classes") or expressions
    if not name:
        raise UsageError("give --name NAME (the dataset's name)")
    ids = {process: p.id for process, p in load_catalogue().items()}
    classes = parse_classes(expressions, ids) if expressions else None
    manifest = build_dataset(name, args.samples, args.output, classes)
    print(
        f"dataset {name}: {len(manifest['shards'])} shard(s), classes "
        f"{manifest['classes']} -> {args.output}",
        file=sys.stderr,
    )
    return 0


def _stats(args) -> int:
    from evenet.io.stats import summary, write_stats

    stats = write_stats(args.dataset)
    print(summary(args.dataset))
    print(f"stats.json: {stats['events']} training events", file=sys.stderr)
    return 0


def _loaded_errors() -> list[type]:
    """Input errors of modules with heavy imports (torch, awkward, uproot, Pythia), caught only
    when the command loaded them: importing them up front would slow every command and make a
    training node install the generation stack."""
    found = []
    for module, name in (
        ("evenet.data.reader", "DataError"),
        ("evenet.io.predictions", "PredictionError"),
        ("evenet.io.selection", "SelectionError"),
        ("evenet.generation.lhe", "LHEError"),
        ("evenet.generation.pythia_driver", "GenerationError"),
        ("evenet.io.events", "ReaderError"),
    ):
        if module in sys.modules:
            found.append(getattr(sys.modules[module], name))
    return found


def main(argv: list[str] | None = None) -> int:
    from evenet.config import ConfigError
    from evenet.io.manifest import ManifestError
    from evenet.io.topologies import TopologyError
    from evenet.model.errors import CheckpointError, ModelConfigError, TrainingError

    args = build_parser().parse_args(argv)
    handlers = {
        "generate": _generate,
        "bench": _bench,
        "convert": _convert,
        "dataset": _dataset,
        "stats": _stats,
        "model": _model,
        "pretrain": _pretrain,
        "finetune": _finetune,
        "predict": _predict,
    }
    try:
        return handlers[args.command](args)
    except (
        UsageError,
        ConfigError,
        CatalogueError,
        TopologyError,
        ManifestError,
        CheckpointError,
        ModelConfigError,
        TrainingError,
        *_loaded_errors(),
    ) as error:
        print(f"evenet: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evenet: interrupted; no partial output was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
