import pytest

from evenet.report.dry_run import job_counts


def test_dry_run_job_counts_read_the_job_stats_table():
    text = "Job stats:\njob  count\n---  -----\ngenerate  4\nall  1\ntotal  5\n\nmore"
    assert job_counts(text) == {"generate": 4, "all": 1}
    with pytest.raises(ValueError, match="Job stats"):
        job_counts("Error in rule x")
