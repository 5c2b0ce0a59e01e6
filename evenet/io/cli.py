"""`evenet convert | dataset | stats`: point clouds, dataset manifests, normalisation statistics
(rules convert, dataset and stats)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from evenet import arguments
from evenet.errors import UsageError


def register(commands) -> None:
    convert = commands.add_parser(
        "convert",
        help="reconstruction files -> Parquet point clouds",
        parents=[arguments.config_files(), arguments.job_options()],
    )
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
    convert.set_defaults(handler=run_convert)

    dataset = commands.add_parser(
        "dataset",
        help="a dataset manifest over converted samples",
        parents=[arguments.job_options()],
    )
    dataset.add_argument("--name", help="dataset name (required without --options)")
    dataset.add_argument(
        "--samples",
        nargs="+",
        metavar="DIR",
        help="converted sample folders (or their manifest.json)",
    )
    dataset.add_argument("--output", help="dataset folder (manifest.json)")
    dataset.add_argument(
        "--verify",
        metavar="DATASET",
        help="instead: check every shard of a dataset (or sample) against its recorded sha256",
    )
    dataset.add_argument(
        "--classes",
        nargs="+",
        metavar="CLASS",
        help="classes in order: a process name or NAME=proc1+proc2 "
        "(default: one class per process id present)",
    )
    dataset.set_defaults(handler=run_dataset)

    stats = commands.add_parser(
        "stats",
        help="stats.json of a dataset and a printed summary",
        parents=[arguments.job_options()],  # versions only: the workflow's fingerprint
    )
    stats.add_argument("dataset", help="dataset or sample folder (or its manifest.json)")
    stats.set_defaults(handler=run_stats)

    skim = commands.add_parser(
        "skim-dimuon",
        help="the dimuon analysis's skim of one CMS NanoAOD file (coffea)",
        description="Certified lumi sections, trigger, two leading tight muons with pT > 17 / 8 "
        "GeV, both anti-isolated; writes opposite_sign.parquet, same_sign.parquet and "
        "cutflow.json to --output (convert them with --format table --table-format "
        "config/table_formats/dimuon_skim.yaml --variant anomaly).",
    )
    skim.add_argument("--input", required=True, help="a CMS NanoAOD file")
    skim.add_argument("--output", required=True, help="output folder")
    skim.add_argument("--golden-json", help="certified luminosity sections (default: all)")
    skim.add_argument(
        "--trigger",
        default="HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx",
        help="trigger bit required (default: 2016H's); 'none' skips the trigger",
    )
    skim.add_argument("--lead-pt", type=float, default=17.0, help="leading muon pT (GeV)")
    skim.add_argument("--sub-pt", type=float, default=8.0, help="subleading muon pT (GeV)")
    skim.add_argument(
        "--min-isolation", type=float, default=0.55, help="both muons' pfRelIso04_all >= this"
    )
    skim.set_defaults(handler=run_skim)

    cms = commands.add_parser(
        "cms-inputs",
        help="the file list and golden JSON of a CMS Open Data sample (config cms_data)",
        description="Writes the NanoAOD file list (the entry's files, or the record's as "
        "cernopendata-client lists them) and the golden JSON (copied or downloaded).",
    )
    cms.add_argument("--options", required=True, help="one cms_data entry (JSON)")
    cms.add_argument("--files", required=True, help="the file list to write (one per line)")
    cms.add_argument("--golden", required=True, help="the golden JSON to write")
    cms.set_defaults(handler=run_cms_inputs)


def run_convert(args) -> int:
    from evenet import job_options
    from evenet.config import conversion_config, default_config_path, load_config
    from evenet.io.convert import convert_sample
    from evenet.paths import SAMPLE_REGEX  # the workflow's wildcard: names become paths

    if args.options:
        options = job_options.parse(args.options)
        job_options.check_topologies(options)
        config = {"conversion": options["conversion"], "readers": options["readers"]}
        args.sample = args.sample or options.get("sample")
    else:
        config = load_config(args.config or [default_config_path()])
        config["conversion"] = conversion_config(config, args.variant)
    inputs = arguments.expand_inputs(args.input)
    output = Path(args.output).resolve()
    if not output.parent.is_dir():
        raise UsageError(f"the parent of --output ({output.parent}) does not exist")
    sample = args.sample or output.name
    if not re.fullmatch(SAMPLE_REGEX, sample):
        raise UsageError(
            f"sample name {sample!r} may hold only letters, digits and _ (it names files)"
        )
    convert_sample(
        inputs,
        output,
        sample,
        config,
        fmt=args.format,
        topology=args.topology,
        table_format=args.table_format,
        log=arguments.log_line,
    )
    return 0


def run_dataset(args) -> int:
    from evenet.io.dataset import build_dataset

    if args.verify:
        return _verify(args.verify)
    if not (args.samples and args.output):
        raise UsageError("give --samples DIR ... and --output DIR (or --verify DATASET)")
    name, expressions = args.name, args.classes
    if args.options:
        from evenet import job_options

        options = job_options.parse(args.options)
        name, expressions = options.get("name", name), options.get("classes") or expressions
    if not name:
        raise UsageError("give --name NAME (the dataset's name)")
    manifest = build_dataset(name, args.samples, args.output, expressions or None)
    print(
        f"dataset {name}: {len(manifest['shards'])} shard(s), classes "
        f"{manifest['classes']} -> {args.output}",
        file=sys.stderr,
    )
    return 0


def _verify(location: str) -> int:
    from evenet.io.manifest import check_shards, load_manifest, manifest_path, shard_entries

    entries = shard_entries(load_manifest(location), location)
    check_shards(entries, manifest_path(location), verify=True)
    print(f"{manifest_path(location)}: all {len(entries)} shard(s) match their sha256")
    return 0


def run_stats(args) -> int:
    from evenet import job_options
    from evenet.io.stats import summary, write_stats

    if args.options and job_options.parse(args.options) != job_options.stats():
        raise UsageError("--options of another stats format: rerun the workflow with this code")
    stats = write_stats(args.dataset)
    print(summary(args.dataset))
    print(f"stats.json: {stats['events']} training events", file=sys.stderr)
    return 0


def run_cms_inputs(args) -> int:
    import json

    from evenet.io.cms_inputs import write_inputs

    files = write_inputs(json.loads(args.options), args.files, args.golden)
    print(f"cms-inputs: {len(files)} file(s) -> {args.files}", file=sys.stderr)
    return 0


def run_skim(args) -> int:
    import json

    from evenet.io.cms_dimuon import skim

    cutflow = skim(
        args.input,
        args.output,
        golden_json=args.golden_json,
        trigger=None if args.trigger.lower() == "none" else args.trigger,
        lead_pt_gev=args.lead_pt,
        sub_pt_gev=args.sub_pt,
        min_isolation=args.min_isolation,
    )
    print(json.dumps(cutflow))
    return 0
