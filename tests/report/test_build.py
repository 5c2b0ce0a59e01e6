import re

import pytest

from evenet import paths
from evenet.report import build, render

from .report_fixture import finished_output


@pytest.fixture()
def report(tmp_path):
    config = finished_output(tmp_path / "out")
    index = build.write_report(config)
    return config, index


def test_report_has_every_analysis_with_its_summary_plots_and_tables(report):
    config, index = report
    folder = index.parent
    assert folder == paths.report_dir(config)
    markdown = (folder / "index.md").read_text()
    page = index.read_text()
    for name in ("qe", "haa", "anomaly"):
        assert f"## Analysis `{name}`" in markdown
        assert f'<section id="analysis-{name}" class="analysis">' in page
    # the summary's heading nests under the analysis; its fenced comment stays code
    assert "### qe: entanglement" in markdown and "\n# not a heading\n" in markdown
    # the summary's own image link points at the copy; the other plot joins "More plots"
    assert "![cos phi](files/analyses/qe/plots/cos_phi.png)" in markdown
    assert "### More plots" in markdown and "files/analyses/qe/plots/extra.png" in markdown
    assert "[closure.csv](files/analyses/qe/closure.csv)" in markdown
    for link in re.findall(r"\]\((files/[^)]+)\)", markdown):
        assert (folder / link).is_file(), link  # nothing links outside the report


def test_report_states_statuses_datasets_training_budget_and_provenance(report):
    _, index = report
    markdown = (index.parent / "index.md").read_text()
    assert "Status: **insufficient_events**" in markdown and "haa_4b_ma30: 1" in markdown
    assert "| spanet | not_run | no environment |" in markdown
    assert "not built by this run" in markdown  # no dataset exists in the fixture
    assert "| pretrain | 20 | 90 s | cpu | classification |" in markdown
    assert "| generate | 2 | 1.5 | 2.0 | 1.0 |" in markdown  # wall 940->1030 s, 58 CPU-s
    assert "| qe/unfold | 2 |" in markdown
    assert "| **total** | 5 |" in markdown
    assert "| analyses.qe |" in markdown  # a fingerprint per analysis section
    assert "| seed | 20261125 |" in markdown
    assert "| torch |" in markdown
    # config/ci.yaml against config/perlmutter.yaml: the cuts of this scale
    assert "| generation.events_per_shard | 100 | 100000 |" in markdown


def test_a_failed_report_leaves_the_previous_one_whole(report, monkeypatch):
    config, index = report
    before = index.read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr(render, "to_html", broken)
    with pytest.raises(RuntimeError):
        build.write_report(config)
    assert index.read_text() == before
    leftovers = [p.name for p in index.parent.parent.iterdir() if p.name.startswith(".report")]
    assert leftovers == []


def test_rewriting_replaces_the_old_report(report):
    config, index = report
    (index.parent / "stale.txt").write_text("from an old run")
    build.write_report(config)
    assert not (index.parent / "stale.txt").exists() and index.is_file()


def test_report_options_without_a_config_are_one_line_errors(capsys):
    from evenet.cli import main

    assert main(["report", "--options", '{"x": 1}']) == 2
    assert 'must be {"config": {...}}' in capsys.readouterr().err
