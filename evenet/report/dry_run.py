"""Reading a Snakemake dry run (`snakemake -n`): the jobs per rule, for the run plan
(bench/run_plan.py) and the workflow's tests."""

from __future__ import annotations

import re


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count} (without the total)."""
    if "Job stats:" not in output:
        raise ValueError("no 'Job stats:' table in the dry-run output (did Snakemake fail?)")
    table = output.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match:
            break
        counts[match[1]] = int(match[2])
    counts.pop("total", None)
    return counts
