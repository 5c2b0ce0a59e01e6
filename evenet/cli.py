"""`evenet` command line: the subcommands of the modules listed in evenet/commands.py.

Every subcommand runs the same functions a Snakemake rule calls. Bad input gives one
line on stderr ("evenet: error: ...") and exit status 2, never a traceback: every
user-facing error derives from evenet.errors.EvenetError.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from evenet.commands import COMMAND_MODULES
from evenet.errors import EvenetError


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump), exit status 2."""

    def error(self, message):
        self.exit(2, f"evenet: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="evenet",
        description="EveNet pipeline: generate, convert, dataset, stats, model, pretrain, "
        "finetune, predict, sample, bumphunt, bench, report.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except EvenetError as error:
        print(f"evenet: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evenet: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout went to a reader that stopped early (`evenet bumphunt --json | head`): not
        # an error of ours; point stdout at /dev/null so Python's exit flush stays quiet
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
