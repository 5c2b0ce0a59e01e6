"""A small finished output directory for the report's tests: what rule all leaves behind
(analysis results, a dataset, training runs, benchmarks), built without running anything."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from evenet import paths  # noqa: E402
from evenet.config import default_config_path, load_config, validate  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BENCHMARK_HEADER = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
)


def config_for(out: Path) -> dict:
    config = validate(load_config([default_config_path(), REPO / "config" / "ci.yaml"]))
    config["output_dir"] = str(out)
    return config


def plot(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(2, 2))
    axes.plot([0, 1], [0, 1])
    axes.set_xlabel("x [GeV]")
    figure.savefig(path)
    plt.close(figure)


def benchmark(path: Path, seconds: float, cpu: str, rss: str, end: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BENCHMARK_HEADER + f"{seconds}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")
    os.utime(path, (end, end))


def finished_output(out: Path) -> dict:
    """Writes a finished run's files below ``out``; returns its config."""
    config = config_for(out)
    qe = paths.analysis_dir(config, "qe")
    plot(qe / "plots" / "cos_phi.png")
    plot(qe / "plots" / "extra.png")
    (qe / "summary.md").write_text(
        "# qe: entanglement\n\n| quantity | ours | published |\n|---|---|---|\n"
        "| D | -0.45 ± 0.03 | -0.46 ± 0.02 |\n\n![cos phi](plots/cos_phi.png)\n\n"
        "```text\n# not a heading\n```\n"
    )
    (qe / "closure.csv").write_text("method,D\nanalytic,-0.45\n")
    haa = paths.analysis_dir(config, "haa")
    haa.mkdir(parents=True)
    (haa / "summary.md").write_text("# haa\n\nStatus: insufficient_events.\n")
    (haa / "status.json").write_text(
        json.dumps({"status": "insufficient_events", "selected_events": {"haa_4b_ma30": 1}})
    )
    spanet = haa / "spanet" / "main" / "sizeall_seed1"
    spanet.mkdir(parents=True)
    (spanet / "info.json").write_text(
        json.dumps({"method": "spanet", "status": "not_run", "reason": "no environment"})
    )
    anomaly = paths.analysis_dir(config, "anomaly")
    plot(anomaly / "weak_supervision" / "injection.png")
    (anomaly / "summary.md").write_text("# anomaly\n\nZ = 1.2 ± 0.4\n")
    pretrain = paths.pretrain_dir(config)
    plot(pretrain / "loss.png")
    (pretrain / "metrics.csv").write_text("step,loss\n1,2.0\n")
    (pretrain / "summary.json").write_text(
        json.dumps({"steps": 20, "seconds": 90.0, "tasks": ["classification"], "device": "cpu"})
    )
    bench = paths.benchmarks_dir(config)
    benchmark(bench / "generate" / "ww_000.tsv", 60.0, "58.0", "150.5", end=1000.0)
    benchmark(bench / "generate" / "ww_001.tsv", 60.0, "NA", "NA", end=1030.0)
    benchmark(bench / "pretrain" / "pretrain.tsv", 90.0, "170.0", "900", end=1200.0)
    benchmark(bench / "qe" / "unfold" / "unfold.tsv", 10.0, "9.5", "300", end=1300.0)
    benchmark(bench / "qe" / "unfold" / "unfold_b.tsv", 5.0, "5.0", "310", end=1302.0)
    return config
