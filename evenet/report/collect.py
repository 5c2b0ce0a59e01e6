"""What the output directory holds for the report: per analysis its summary, plots, tables and
method statuses; the datasets' summaries; every training run's curves."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evenet import analyses, paths
from evenet.errors import EvenetError

# Files above this size are listed, not copied into the report (it must stay portable).
MAX_COPY_BYTES = 20 * 1024 * 1024


@dataclass
class AnalysisSection:
    name: str
    folder: Path
    summary: str | None  # summary.md, or None where the analysis wrote none
    status: dict | None  # status.json, e.g. {"status": "insufficient_events", "counts": ...}
    plots: list[Path] = field(default_factory=list)  # PNGs, relative to folder
    tables: list[Path] = field(default_factory=list)  # CSVs, relative to folder
    methods: list[dict] = field(default_factory=list)  # {"file", "method", "status", "reason"}


@dataclass
class TrainingRun:
    label: str  # the run below training/: "pretrain", "finetune/haa/main/scratch/size_all/seed1"
    folder: Path
    summary: dict
    loss_plot: Path | None
    metrics: Path | None


@dataclass
class DatasetSummary:
    name: str
    text: str  # `evenet stats`'s table, or why there is none


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise EvenetError(f"cannot read {path} for the report: {error}") from None


def _method_statuses(folder: Path) -> list[dict]:
    """Every JSON record below ``folder`` that names a method and its status (haa's SPANet and
    XGBoost info.json, say): a method that did not run is listed with its reason."""
    found = []
    for path in sorted(folder.rglob("*.json")):
        if path.stat().st_size > 1_000_000:
            continue  # data, not a status record
        record = _read_json(path)
        if isinstance(record, dict) and "method" in record and "status" in record:
            found.append(
                {
                    "file": path.relative_to(folder).as_posix(),
                    "method": str(record["method"]),
                    "status": str(record["status"]),
                    "reason": record.get("reason"),
                }
            )
    return found


def analysis_section(config: Mapping[str, Any], name: str) -> AnalysisSection:
    folder = paths.analysis_dir(config, name)
    summary_file, status_file = folder / "summary.md", folder / "status.json"
    section = AnalysisSection(
        name=name,
        folder=folder,
        summary=summary_file.read_text(encoding="utf-8") if summary_file.is_file() else None,
        status=_read_json(status_file) if status_file.is_file() else None,
    )
    if folder.is_dir():
        section.plots = sorted(p.relative_to(folder) for p in folder.rglob("*.png"))
        section.tables = sorted(p.relative_to(folder) for p in folder.rglob("*.csv"))
        section.methods = _method_statuses(folder)
    return section


def analysis_sections(config: Mapping[str, Any]) -> list[AnalysisSection]:
    """One section per enabled analysis, in config order."""
    return [analysis_section(config, name) for name in analyses.enabled(config)]


def training_runs(config: Mapping[str, Any]) -> list[TrainingRun]:
    """Every finished training run (a summary.json below ``{out}/training``)."""
    root = paths.output_dir(config) / "training"
    runs = []
    for summary_file in sorted(root.rglob("summary.json")) if root.is_dir() else []:
        folder = summary_file.parent
        summary = _read_json(summary_file)
        if not isinstance(summary, dict) or "steps" not in summary:
            continue  # another tool's summary.json (none is written there today)
        loss, metrics = folder / "loss.png", folder / "metrics.csv"
        runs.append(
            TrainingRun(
                label=folder.relative_to(root).as_posix(),
                folder=folder,
                summary=summary,
                loss_plot=loss if loss.is_file() else None,
                metrics=metrics if metrics.is_file() else None,
            )
        )
    # pretraining first, then the fine-tunings in path order
    return sorted(runs, key=lambda r: (r.label != "pretrain", r.label))


def dataset_summaries(config: Mapping[str, Any]) -> list[DatasetSummary]:
    """`evenet stats`'s table of every configured dataset that was built."""
    from evenet.io.stats import summary

    rows = []
    for name in config.get("datasets") or {}:
        folder = paths.dataset_dir(config, name)
        if not paths.dataset_manifest(config, name).is_file():
            rows.append(DatasetSummary(name, "not built by this run"))
            continue
        try:
            rows.append(DatasetSummary(name, summary(folder)))
        except EvenetError as error:
            rows.append(DatasetSummary(name, f"unreadable: {error}"))
    return rows
