"""Argument types and option groups shared by the `evenet` subcommands (evenet/cli.py)."""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

from evenet.errors import UsageError


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def config_files() -> argparse.ArgumentParser:
    """``--config CFG ...``: config files in layering order (for runs by hand)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config",
        nargs="+",
        default=None,
        metavar="CFG",
        help="config files in layering order (default: config/config.yaml)",
    )
    return parent


def job_options() -> argparse.ArgumentParser:
    """``--options JSON``: a workflow job's resolved options (evenet.job_options)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--options",
        metavar="JSON",
        help="the job's resolved options as one JSON object (what the workflow passes; "
        "evenet.job_options) instead of --config files",
    )
    return parent


def json_output() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print one JSON object")
    return parent


def expand_inputs(patterns: list[str]) -> list[Path]:
    """Files matching each pattern, sorted; a pattern matching nothing is an error."""
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise UsageError(f"no input file matches '{pattern}'")
        paths += [Path(m) for m in matches]
    return paths


def log_line(line: str) -> None:
    """Progress and summaries go to stderr (stdout carries results such as JSON)."""
    import sys

    print(line, file=sys.stderr)
