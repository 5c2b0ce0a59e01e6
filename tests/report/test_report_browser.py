"""The report in a real browser (`-m slow`; needs Debian's chromium)."""

import pytest

from evenet.report import build

from .browser import body_counts, rendered_dom, section_ids
from .report_fixture import finished_output

pytestmark = pytest.mark.slow


def test_report_renders_every_analysis_with_no_broken_image(tmp_path):
    index = build.write_report(finished_output(tmp_path / "out"))
    dom = rendered_dom(index)
    images, broken = body_counts(dom)
    assert images == 4 and broken == 0  # qe's two plots, anomaly's, the loss curve
    ids = section_ids(dom)
    for name in ("qe", "haa", "anomaly"):
        assert f"analysis-{name}" in ids
    assert {"datasets", "training", "budget", "scale", "provenance"} <= set(ids)


def test_a_missing_image_is_counted_and_named_on_the_page(tmp_path):
    index = build.write_report(finished_output(tmp_path / "out"))
    (index.parent / "files" / "analyses" / "qe" / "plots" / "extra.png").unlink()
    dom = rendered_dom(index)
    assert body_counts(dom) == (4, 1)
    assert "failed to load: files/analyses/qe/plots/extra.png" in dom
