"""`evenet report`: the workflow's report (rule report), or one written by hand from config
files over an existing output directory."""

from __future__ import annotations

from pathlib import Path

from evenet import arguments


def register(commands) -> None:
    report = commands.add_parser(
        "report",
        help="index.html + index.md: every analysis, dataset, training run, budget, provenance",
        parents=[arguments.config_files(), arguments.job_options()],
    )
    report.add_argument(
        "--output", help="report folder (default: {output_dir}/report of the configuration)"
    )
    report.set_defaults(handler=run_report)


def run_report(args) -> int:
    from evenet import job_options
    from evenet.config import ConfigError, default_config_path, load_config, validate
    from evenet.report.build import write_report

    if args.options:
        options = job_options.parse(args.options)
        if not isinstance(options.get("config"), dict):
            raise ConfigError(
                '--options of `evenet report` must be {"config": {...}}, the resolved config '
                "(evenet.job_options.report); by hand use --config FILES instead"
            )
        config = validate(options["config"])
    else:
        config = validate(load_config(args.config or [default_config_path()]))
    index = write_report(config, Path(args.output) if args.output else None)
    print(f"report: {index}")
    return 0
