"""`evenet model`: build a preset (or a checkpoint's model) and print its parameters."""

from __future__ import annotations

from evenet import arguments


def register(commands) -> None:
    model = commands.add_parser(
        "model",
        help="build a model preset; print its parameters",
        parents=[arguments.json_output()],
    )
    model.add_argument("--preset", default="tiny", help="tiny | lite | standard (default tiny)")
    model.add_argument(
        "--checkpoint", help="describe the model stored in this checkpoint instead of a preset"
    )
    model.add_argument("--summary", action="store_true", help="parameters per module")
    model.set_defaults(handler=run)


def run(args) -> int:
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
