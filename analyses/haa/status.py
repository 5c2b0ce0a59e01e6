"""summary.md and status.json of haa when no run can be compared: no run trains on the
selected events (`events`) of a dataset with a `signal` and a background class (config/ci.yaml's
haa dataset is signal only). The status is `insufficient_events`, with the selected events per
sample, so the report says why there are no numbers instead of showing none.

    python -m analyses.haa.status --cutflow CSV --classes JSON --summary MD --status JSON
"""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from evenet.io.results import write_json, write_text


def selected_counts(cutflow: pd.DataFrame) -> dict[str, int]:
    """Events left after the last step of the selection, per sample."""
    last = cutflow.groupby("sample", sort=False).tail(1)
    return {str(row.sample): int(row.events) for row in last.itertuples()}


def status(cutflow: pd.DataFrame, classes: list[str]) -> dict:
    counts = selected_counts(cutflow)
    return {
        "status": "insufficient_events",
        "reason": (
            "No run of analyses.haa trains on selected events of a dataset with a signal and a "
            f"background class (the dataset's classes: {classes or 'one per process'}): "
            "nothing to compare methods on"
        ),
        "selected_events": counts,
    }


def summary_markdown(record: dict) -> str:
    rows = "\n".join(f"| {s} | {n} |" for s, n in record["selected_events"].items())
    return (
        "# haa: H → aa → 4b\n\n"
        f"**Status: {record['status']}.** {record['reason']}.\n\n"
        "No metrics, limits or plots: a run needs `events: {name: selected}` on a dataset with "
        "a `signal` class and background (config/config.yaml has one).\n\n"
        "| sample | events after the selection |\n|---|---|\n"
        f"{rows}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cutflow", required=True)
    parser.add_argument("--classes", required=True, help="the dataset's class list (JSON)")
    parser.add_argument("--summary", required=True)
    parser.add_argument("--status", required=True)
    args = parser.parse_args(argv)
    try:
        cutflow = pd.read_csv(args.cutflow)
    except (OSError, pd.errors.ParserError) as error:
        print(f"haa status: cannot read the cutflow {args.cutflow}: {error}", file=sys.stderr)
        return 2
    record = status(cutflow, json.loads(args.classes) or [])
    write_json(args.status, record)
    write_text(args.summary, summary_markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
