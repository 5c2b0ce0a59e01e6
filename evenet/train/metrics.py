"""Per-step metrics of a run: a CSV log (resume-safe), and loss-curve plots."""

from __future__ import annotations

import csv
import os
from pathlib import Path


class MetricsLog:
    """Appends rows to ``path``; on resume, rows after the resumed step are dropped first so
    a killed and resumed run leaves one row per step."""

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = Path(path)
        self.fields: list[str] | None = None
        if resume_step is None or not self.path.exists():
            self.path.unlink(missing_ok=True)
            return
        with open(self.path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        if rows:
            self.fields = list(rows[0])
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        with open(temporary, "w", newline="") as f:
            if self.fields:
                writer = csv.DictWriter(f, self.fields)
                writer.writeheader()
                writer.writerows(rows)
        os.replace(temporary, self.path)

    def write(self, row: dict) -> None:
        if self.fields is None:
            self.fields = list(row)
            with open(self.path, "w", newline="") as f:
                csv.DictWriter(f, self.fields).writeheader()
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.fields, extrasaction="ignore", restval="").writerow(row)


def read_metrics(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_losses(
    metrics_csv: Path, output: Path, title: str = "", validation: Path | None = None
) -> Path:
    """Total and per-task training losses against the optimizer step (log y), with the
    validation-split total when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics_csv)
    steps = [int(r["step"]) for r in rows]
    columns = [k for k in (rows[0] if rows else {}) if k == "loss" or k.startswith("loss_")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for column in columns:
        points = [(s, float(r[column])) for s, r in zip(steps, rows, strict=True) if r[column]]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(
                xs,
                ys,
                label=column.removeprefix("loss_") if column != "loss" else "total",
                lw=2.0 if column == "loss" else 1.0,
                # markers while points are few: a single logged step would draw nothing
                marker="o" if len(xs) < 30 else None,
                ms=3,
            )
    if validation is not None:
        val_rows = read_metrics(validation)
        ax.plot(
            [int(r["step"]) for r in val_rows],
            [float(r["val_loss"]) for r in val_rows],
            "k--o",
            ms=3,
            label="validation (total)",
        )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (training: one batch per logged step)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    output = Path(output)
    temporary = output.with_name(f".{output.stem}.tmp{output.suffix}")
    fig.savefig(temporary, dpi=120)
    plt.close(fig)
    os.replace(temporary, output)
    return output
