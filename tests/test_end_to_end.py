"""`snakemake --profile profiles/ci` through every rule, the three analyses and the report
included (`-m slow`: ~3 min on 2 cores; the report's browser check needs Debian's chromium).

At the CI scale haa's dataset is signal only, so haa writes `status: insufficient_events` with
its counts instead of numbers; the test asserts that status, and SPANet may be `not_run`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evenet import analyses, paths
from evenet.config import load_config

from .report.browser import body_counts, rendered_dom, section_ids

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ci_all")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--profile",
            "profiles/ci",
            "--directory",
            str(tmp / "work"),
            "--config",
            f"output_dir={tmp / 'out'}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    config = load_config([REPO / "config" / "config.yaml", REPO / "config" / "ci.yaml"])
    config["output_dir"] = str(tmp / "out")
    return config, done.stdout + done.stderr


def test_every_analysis_has_a_result_or_a_stated_status(ci_run):
    config, _ = ci_run
    for name in analyses.enabled(config):
        folder = paths.analysis_dir(config, name)
        assert (folder / "summary.md").is_file(), name
    haa = json.loads((paths.analysis_dir(config, "haa") / "status.json").read_text())
    assert haa["status"] == "insufficient_events"
    assert haa["selected_events"].keys() == {"haa_4b_ma30"}


def test_the_report_lists_every_analysis_stage_and_renders(ci_run):
    config, _ = ci_run
    report = paths.report_dir(config)
    markdown = (report / "index.md").read_text()
    for name in analyses.enabled(config):
        assert f"## Analysis `{name}`" in markdown
    # a budget line for every stage of the chain and for analysis steps
    for stage in ("generate", "convert", "dataset", "stats", "pretrain", "finetune", "predict"):
        assert f"\n| {stage} | " in markdown, stage
    for stage in ("qe/unfold", "anomaly/classify", "haa/cutflow"):
        assert f"\n| {stage} | " in markdown, stage
    dom = rendered_dom(report / "index.html")
    images, broken = body_counts(dom)
    assert images > 10 and broken == 0
    assert {f"analysis-{n}" for n in analyses.enabled(config)} <= set(section_ids(dom))
