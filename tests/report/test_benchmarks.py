import math
from pathlib import Path

import pytest

from evenet.errors import EvenetError
from evenet.report import benchmarks

from .report_fixture import benchmark


def test_stage_of_groups_analysis_jobs_by_step_and_central_jobs_by_rule():
    names = ["qe", "haa"]
    assert benchmarks.stage_of(Path("generate/ww_000.tsv"), names) == "generate"
    assert benchmarks.stage_of(Path("qe/unfold/unfold_b.tsv"), names) == "qe/unfold"
    assert benchmarks.stage_of(Path("pretrain/pretrain.tsv"), names) == "pretrain"
    # a rule that happens to share a name with no analysis keeps its folder
    assert benchmarks.stage_of(Path("finetune/a/b.tsv"), names) == "finetune"


def test_stages_span_sum_and_peak_from_the_files(tmp_path):
    benchmark(tmp_path / "generate" / "a.tsv", 60.0, "58.0", "150", end=1000.0)
    benchmark(tmp_path / "generate" / "b.tsv", 60.0, "NA", "NA", end=1030.0)
    benchmark(tmp_path / "qe" / "unfold" / "u.tsv", 10.0, "9.5", "300", end=1300.0)
    jobs = benchmarks.read_jobs(tmp_path, ["qe"])
    stages = {s.name: s for s in benchmarks.stages(jobs)}
    generate = stages["generate"]
    assert generate.jobs == 2
    assert generate.wall_seconds == pytest.approx(90.0)  # 940 -> 1030: they overlapped
    assert generate.job_seconds == pytest.approx(120.0)
    assert generate.cpu_seconds == pytest.approx(58.0)  # the unmeasured job adds nothing
    assert generate.max_rss_mb == pytest.approx(150.0)
    assert stages["qe/unfold"].cpu_per_wall == pytest.approx(0.95)
    assert [s.name for s in benchmarks.stages(jobs)] == ["generate", "qe/unfold"]
    total = benchmarks.total(jobs)
    assert total.wall_seconds == pytest.approx(1300.0 - 940.0)
    assert total.jobs == 3


def test_unmeasured_stage_reports_nan_not_zero(tmp_path):
    benchmark(tmp_path / "stats" / "a.tsv", 0.5, "-", "-", end=10.0)
    (stage,) = benchmarks.stages(benchmarks.read_jobs(tmp_path, []))
    assert math.isnan(stage.cpu_seconds) and math.isnan(stage.max_rss_mb)


def test_missing_folder_is_no_jobs_and_a_foreign_tsv_is_an_error(tmp_path):
    assert benchmarks.read_jobs(tmp_path / "absent", []) == []
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "table.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(EvenetError, match="no row with a column 's'"):
        benchmarks.read_jobs(tmp_path, [])


def test_a_wall_time_that_is_not_a_number_is_an_error(tmp_path):
    benchmark(tmp_path / "stats" / "a.tsv", "nan", "1", "1", end=10.0)
    with pytest.raises(EvenetError, match="is not a number"):
        benchmarks.read_jobs(tmp_path, [])
