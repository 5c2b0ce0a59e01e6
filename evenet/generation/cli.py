"""`evenet generate`: Pythia 8 + detector -> one ROOT ntuple (rule generate)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evenet import arguments
from evenet.catalogue import EXTERNAL_LHE
from evenet.errors import UsageError


def register(commands) -> None:
    generate = commands.add_parser(
        "generate",
        help="Pythia 8 + detector -> ROOT ntuple",
        parents=[arguments.config_files(), arguments.job_options()],
    )
    add_generation_args(generate)
    generate.add_argument("--output", required=True, help="ROOT file to write")
    generate.set_defaults(handler=run)


def add_generation_args(parser: argparse.ArgumentParser) -> None:
    """What to generate (shared with `evenet bench generate`)."""
    parser.add_argument(
        "--process",
        help=f"process name from config/processes.yaml (default with --lhe: {EXTERNAL_LHE})",
    )
    parser.add_argument(
        "--events",
        type=arguments.positive_int,
        help="events to generate (required without --options)",
    )
    parser.add_argument(
        "--seed",
        type=arguments.positive_int,
        default=1,
        help="Pythia seed, also the ntuple's run number (1..900000000)",
    )
    parser.add_argument(
        "--lhe",
        help="shower this LHE file (.lhe or .lhe.gz) instead of a "
        "built-in process; beams and energy come from the file",
    )
    parser.add_argument(
        "--catalogue", default=None, help="process catalogue (default: config/processes.yaml)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def _from_options(args):
    """Config (generation and detector sections) and process of a workflow job's --options."""
    from evenet import job_options
    from evenet.catalogue import process_from_dict

    options = job_options.parse(args.options)
    try:
        args.events, args.seed = int(options["events"]), int(options["seed"])
        config = {"generation": options["generation"], "detector": options["detector"]}
        return config, process_from_dict(options["process"])
    except (KeyError, TypeError, ValueError) as error:
        raise UsageError(f"--options lacks a generation setting: {error!r}") from None


def resolve(args):
    """Config, process, LHE file and output of a generation command, checked."""
    from evenet.catalogue import DEFAULT_CATALOGUE, get_process
    from evenet.config import default_config_path, load_config
    from evenet.generation.seeds import PYTHIA_MAX_SEED

    if getattr(args, "options", None):
        config, process = _from_options(args)
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


def run(args) -> int:
    from evenet.generation.generate import generate_shard
    from evenet.generation.lhe import readable_lhe

    config, process, lhe, output = resolve(args)
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
