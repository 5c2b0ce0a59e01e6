"""Per-stage wall time, CPU time and memory from the workflow's Snakemake benchmark files.

Every job writes ``{out}/benchmarks/<rule>/<wildcards>.tsv`` (an analysis job
``{out}/benchmarks/<analysis>/<step>/<wildcards>.tsv``): its wall seconds ``s``, ``cpu_time``
and peak resident memory ``max_rss`` (MB). A file is written when its job ends, so its
modification time is the job's end and ``end - s`` its start; a stage's wall span is its last
end minus its first start. Spans of stages that ran side by side overlap, so they do not add
up to the run's wall time, which is the span over every job.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from evenet.errors import EvenetError


@dataclass(frozen=True)
class Job:
    stage: str  # the rule (generate, pretrain, ...) or "<analysis>/<step>"
    seconds: float
    cpu_seconds: float  # NaN where Snakemake could not measure it
    max_rss_mb: float  # NaN likewise
    end: float  # epoch seconds (the file's modification time)

    @property
    def start(self) -> float:
        return self.end - self.seconds


@dataclass(frozen=True)
class Stage:
    name: str
    jobs: int
    wall_seconds: float  # last end - first start
    job_seconds: float  # summed over jobs
    cpu_seconds: float  # summed over the jobs that report it
    max_rss_mb: float  # the largest of any job
    start: float

    @property
    def cpu_per_wall(self) -> float:
        """CPU seconds per wall second of the stage's span: how many cores it kept busy."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else math.nan


def _number(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan  # "NA" or "-": not measured (a job too short for psutil, say)


def read_job(path: Path, stage: str) -> Job:
    """One benchmark TSV (its last row: a rerun with ``repeat`` appends rows)."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except OSError as error:
        raise EvenetError(f"cannot read benchmark {path}: {error}") from None
    if not rows or "s" not in rows[-1]:
        raise EvenetError(f"benchmark {path} has no row with a column 's' (not Snakemake's TSV)")
    row = rows[-1]
    seconds = _number(row["s"])
    if not math.isfinite(seconds) or seconds < 0:
        raise EvenetError(f"benchmark {path}: its wall time s = {row['s']!r} is not a number")
    return Job(
        stage=stage,
        seconds=seconds,
        cpu_seconds=_number(row.get("cpu_time")),
        max_rss_mb=_number(row.get("max_rss")),
        end=path.stat().st_mtime,
    )


def stage_of(relative: Path, analyses: Iterable[str]) -> str:
    """The stage a benchmark belongs to, from its path below ``benchmarks/``."""
    parts = relative.parts
    if parts[0] in set(analyses) and len(parts) >= 3:
        return f"{parts[0]}/{parts[1]}"
    return parts[0]


def read_jobs(folder: Path, analyses: Iterable[str]) -> list[Job]:
    """Every benchmark below ``folder`` (``{out}/benchmarks``); none if it does not exist."""
    analyses = list(analyses)
    if not folder.is_dir():
        return []
    return [
        read_job(path, stage_of(path.relative_to(folder), analyses))
        for path in sorted(folder.rglob("*.tsv"))
    ]


def _summed(values: Iterable[float]) -> float:
    measured = [v for v in values if not math.isnan(v)]
    return sum(measured) if measured else math.nan


def _peak(values: Iterable[float]) -> float:
    measured = [v for v in values if not math.isnan(v)]
    return max(measured) if measured else math.nan


def summarise(name: str, jobs: list[Job]) -> Stage:
    return Stage(
        name=name,
        jobs=len(jobs),
        wall_seconds=max(j.end for j in jobs) - min(j.start for j in jobs),
        job_seconds=_summed(j.seconds for j in jobs),
        cpu_seconds=_summed(j.cpu_seconds for j in jobs),
        max_rss_mb=_peak(j.max_rss_mb for j in jobs),
        start=min(j.start for j in jobs),
    )


def stages(jobs: list[Job]) -> list[Stage]:
    """One row per stage, in the order the stages started."""
    grouped: dict[str, list[Job]] = {}
    for job in jobs:
        grouped.setdefault(job.stage, []).append(job)
    return sorted((summarise(n, js) for n, js in grouped.items()), key=lambda s: s.start)


def total(jobs: list[Job]) -> Stage | None:
    """The whole run as one row (its wall time is the span over every job)."""
    return summarise("total", jobs) if jobs else None
