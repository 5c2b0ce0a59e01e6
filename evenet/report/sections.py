"""The report's sections as Markdown: header, one per analysis, datasets, training, budget,
scale and provenance. Each copies what it shows into the staging folder's ``files/``."""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from evenet import analyses, paths
from evenet.report import benchmarks, collect, provenance, render, scale

TITLE = "EveNet pipeline report"
FILES = "files"  # below the report folder: the copied images and tables


def _minutes(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds / 60:.1f}"


def _duration(seconds: float) -> str:
    """Seconds below two minutes (a CI-scale run's 20 steps), minutes above."""
    if math.isnan(seconds):
        return "–"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _copy(source: Path, staging: Path, relative: str) -> str | None:
    """Copies ``source`` to ``staging/files/relative``; the link, or None if too large."""
    if source.stat().st_size > collect.MAX_COPY_BYTES:
        return None
    target = staging / FILES / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    return f"{FILES}/{relative}"


def header(config: Mapping[str, Any], names: list[str], now: datetime) -> str:
    contents = " · ".join(
        [f"[{n}](#analysis-{n})" for n in names]
        + ["[datasets](#datasets)", "[training](#training)", "[budget](#budget)"]
        + ["[scale](#scale)", "[provenance](#provenance)"]
    )
    return (
        f"# {TITLE}\n\n"
        f"Written {now:%Y-%m-%d %H:%M} UTC by `evenet report` (rule `report`) from "
        f"`{paths.output_dir(config)}`; code version `{provenance.code_version()}`.\n\n"
        f"Analyses: {', '.join(names) or 'none enabled'}.\n\n{contents}"
    )


def _plain(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    return str(value)


def _status_line(section: collect.AnalysisSection) -> str:
    if section.status is not None:
        state = section.status.get("status", "?")
        # the reason is the summary's own first paragraph when there is one
        skip = {"status", "reason"} if section.summary else {"status"}
        details = "; ".join(f"{k}: {_plain(v)}" for k, v in section.status.items() if k not in skip)
        return f"Status: **{state}**" + (f" ({details})" if details else "")
    if section.summary is None:
        return "Status: **no summary.md** (the analysis has not written its result)"
    return "Status: **ok**"


_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")


def relink(markdown: str, folder: Path, staging: Path, prefix: str) -> tuple[str, set[str]]:
    """``markdown`` (an analysis's summary.md) with its relative links to files of ``folder``
    pointing at their copies under ``files/<prefix>/``; also the relative paths it linked."""
    linked: set[str] = set()

    def replace(match: re.Match) -> str:
        target = match.group(2)
        source = folder / target
        if "://" in target or target.startswith(("/", "#")) or not source.is_file():
            return match.group(0)  # absolute, an anchor, or missing: left as written
        link = _copy(source, staging, f"{prefix}/{target}")
        linked.add(Path(target).as_posix())
        return f"{match.group(1)}{link or target}{match.group(3)}"

    return _LINK.sub(replace, markdown), linked


def analysis_block(section: collect.AnalysisSection, staging: Path) -> str:
    name = section.name
    linked: set[str] = set()
    parts = [
        f"## Analysis `{name}`",
        _status_line(section),
        f"Rerun only this analysis: `snakemake --profile profiles/local {name}_all` "
        f'(README, "Rerun one analysis"). Its files: `{section.folder}`.',
    ]
    if section.summary:
        text, linked = relink(section.summary, section.folder, staging, f"analyses/{name}")
        parts.append(render.demote_headings(text, 2))
    gallery = [p for p in section.plots if p.as_posix() not in linked]
    if gallery:
        parts.append("### Plots" if not linked else "### More plots")
        for plot in gallery:
            link = _copy(section.folder / plot, staging, f"analyses/{name}/{plot.as_posix()}")
            shown = f"![{name}: {plot.as_posix()}]({link})" if link else "(too large to copy)"
            parts.append(f"**{plot.as_posix()}**\n\n{shown}")
    if section.tables:
        parts.append("### Tables (CSV)")
        rows = []
        for csv_file in section.tables:
            link = _copy(section.folder / csv_file, staging, f"analyses/{name}/{csv_file}")
            label = csv_file.as_posix()
            rows.append(f"- [{label}]({link})" if link else f"- {label} (too large to copy)")
        parts.append("\n".join(rows))
    not_ok = [m for m in section.methods if m["status"] != "ok"]
    if section.methods:
        parts.append("### Methods")
        parts.append(
            f"{len(section.methods) - len(not_ok)} of {len(section.methods)} method records "
            "report status ok."
        )
    if not_ok:
        rows = [[m["method"], m["status"], m["reason"] or "", m["file"]] for m in not_ok]
        parts.append(render.table(["method", "status", "reason", "record"], rows))
    return "\n\n".join(parts)


def datasets_block(config: Mapping[str, Any]) -> str:
    parts = ["## Datasets", "Events per process and split (`evenet stats`)."]
    for dataset in collect.dataset_summaries(config):
        parts.append(f"### {dataset.name}\n\n```text\n{dataset.text}\n```")
    return "\n\n".join(parts)


def training_block(config: Mapping[str, Any], staging: Path) -> str:
    runs = collect.training_runs(config)
    parts = ["## Training", f"{len(runs)} finished training runs (`{{out}}/training/`)."]
    rows, curves = [], []
    for run in runs:
        summary = run.summary
        metrics = (
            _copy(run.metrics, staging, f"training/{run.label}/metrics.csv")
            if (run.metrics)
            else None
        )
        rows.append(
            [
                run.label,
                summary.get("steps", "?"),
                _duration(float(summary.get("seconds", math.nan))),
                summary.get("device", "not recorded"),
                ", ".join(summary.get("tasks", [])),
                f"[metrics.csv]({metrics})" if metrics else "–",
            ]
        )
        if run.loss_plot:
            link = _copy(run.loss_plot, staging, f"training/{run.label}/loss.png")
            if link:
                curves.append(f"**{run.label}**\n\n![loss curves of {run.label}]({link})")
    if rows:
        header = ["run", "steps", "time", "device", "tasks", "curves"]
        parts.append(render.table(header, rows))
    parts += curves
    return "\n\n".join(parts)


def budget_block(config: Mapping[str, Any]) -> str:
    jobs = benchmarks.read_jobs(paths.benchmarks_dir(config), analyses.enabled(config))
    parts = [
        "## Budget: wall time and memory per stage",
        "From the Snakemake benchmark file of every job (`{out}/benchmarks/`). *wall*: the "
        "stage's first start to its last end (stages that ran side by side overlap); "
        "*job-min*: summed job wall time; *CPU/wall*: cores the stage kept busy; *peak RSS*: "
        "the largest job's. The report's own job is not included (it writes this table). "
        "A stage rerun later shows its latest jobs only.",
    ]
    if not jobs:
        return "\n\n".join([*parts, "No benchmark files."])
    rows = []
    for stage in [*benchmarks.stages(jobs), benchmarks.total(jobs)]:
        rows.append(
            [
                f"**{stage.name}**" if stage.name == "total" else stage.name,
                stage.jobs,
                _minutes(stage.wall_seconds),
                _minutes(stage.job_seconds),
                _minutes(stage.cpu_seconds),
                "–" if math.isnan(stage.cpu_per_wall) else f"{stage.cpu_per_wall:.2f}",
                "–" if math.isnan(stage.max_rss_mb) else f"{stage.max_rss_mb:.0f}",
            ]
        )
    header = ["stage", "jobs", "wall (min)", "job-min", "CPU-min", "CPU/wall", "peak RSS (MB)"]
    parts.append(render.table(header, rows))
    return "\n\n".join(parts)


def scale_block(config: Mapping[str, Any]) -> str:
    settings = config.get("report") or {}
    files = list(settings.get("full_scale", []))
    parts = ["## Scale: what this run cuts, and what it cannot show"]
    notes = settings.get("notes") or []
    if notes:
        parts.append("What this scale cannot show honestly (config `report.notes`):")
        parts.append("\n".join(f"- {note}" for note in notes))
    if not files:
        parts.append("No full-scale comparison (`report.full_scale` is empty): a full run.")
        return "\n\n".join(parts)
    rows = scale.differences(config, scale.full_scale_config(files))
    parts.append(
        f"{len(rows)} settings differ from the full-scale configuration (config/config.yaml + "
        f"{', '.join(files)}): each is a cut made for this scale, or a choice that differs."
    )
    if rows:
        parts.append(render.table(["setting", "this run", "full scale"], [list(r) for r in rows]))
    return "\n\n".join(parts)


def provenance_block(config: Mapping[str, Any]) -> str:
    parts = [
        "## Provenance",
        f"Code version (`git describe --always --dirty --tags`): "
        f"`{provenance.code_version()}`. Report written on {provenance.machine()}.",
        "### Packages",
        render.table(["package", "version"], list(provenance.package_versions().items())),
    ]
    environments = provenance.environments(paths.envs_dir(config))
    rows = [
        [e["name"], e["status"], ", ".join(e.get("packages") or []) or e.get("reason") or ""]
        for e in environments
    ]
    parts.append("### Side environments")
    parts.append(
        render.table(["environment", "status", "versions or reason"], rows)
        if rows
        else "None was built (SPANet: not run)."
    )
    devices: dict[str, int] = {}
    for run in collect.training_runs(config):
        device = str(run.summary.get("device", "not recorded"))
        devices[device] = devices.get(device, 0) + 1
    parts.append("### Devices that trained")
    parts.append(render.table(["device", "runs"], list(devices.items())) if devices else "None.")
    parts.append("### Config fingerprints")
    fingerprints = provenance.config_fingerprints(config)
    parts.append(render.table(["section", "fingerprint"], list(fingerprints.items())))
    parts.append("### Seeds")
    seeds = provenance.seeds(config)
    parts.append(render.table(["key", "value"], [[k, v] for k, v in seeds.items()]))
    return "\n\n".join(parts)
