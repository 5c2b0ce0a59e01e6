"""`evenet report`: assemble the report's sections (evenet/report/sections.py) and write
index.md and index.html. The whole folder is built under a temporary name beside the report and
then swapped in, so a failure leaves the previous report whole."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evenet import analyses, paths
from evenet.report import collect, render
from evenet.report.sections import (
    TITLE,
    analysis_block,
    budget_block,
    datasets_block,
    header,
    provenance_block,
    scale_block,
    training_block,
)


def blocks(config: Mapping[str, Any], staging: Path, now: datetime) -> list[tuple[str, str]]:
    names = analyses.enabled(config)
    result = [("top", header(config, names, now))]
    result += [
        (f"analysis-{section.name}", analysis_block(section, staging))
        for section in collect.analysis_sections(config)
    ]
    result += [
        ("datasets", datasets_block(config)),
        ("training", training_block(config, staging)),
        ("budget", budget_block(config)),
        ("scale", scale_block(config)),
        ("provenance", provenance_block(config)),
    ]
    return result


def _swap_in(staging: Path, destination: Path) -> None:
    """Replaces ``destination`` by ``staging`` (two renames; the old one is removed last)."""
    old = None
    if destination.exists():
        old = destination.with_name(f".{destination.name}.old-{staging.name}")
        destination.rename(old)
    staging.rename(destination)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_report(
    config: Mapping[str, Any], destination: Path | None = None, now: datetime | None = None
) -> Path:
    """Writes the report folder (default ``{out}/report``); returns its index.html."""
    destination = Path(destination or paths.report_dir(config))
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=destination.parent))
    try:
        content = blocks(config, staging, now or datetime.now(UTC))
        (staging / "index.md").write_text(render.to_markdown(content), encoding="utf-8")
        (staging / "index.html").write_text(render.to_html(content, TITLE), encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; the report is for reading
        _swap_in(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination / "index.html"
