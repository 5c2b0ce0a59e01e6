import json

import pandas as pd

from analyses.haa import status


def _cutflow(tmp_path):
    frame = pd.DataFrame(
        {
            "sample": ["haa_4b_ma30", "haa_4b_ma30", "qcd", "qcd"],
            "step": ["all events", ">= 3 b-tags", "all events", ">= 3 b-tags"],
            "events": [100, 10, 50, 0],
        }
    )
    path = tmp_path / "cutflow.csv"
    frame.to_csv(path, index=False)
    return path


def test_status_counts_the_events_left_after_the_last_step(tmp_path):
    cutflow = _cutflow(tmp_path)
    summary, record = tmp_path / "summary.md", tmp_path / "status.json"
    args = ["--cutflow", str(cutflow), "--classes", "[]"]
    assert status.main([*args, "--summary", str(summary), "--status", str(record)]) == 0
    written = json.loads(record.read_text())
    assert written["status"] == "insufficient_events"
    assert written["selected_events"] == {"haa_4b_ma30": 10, "qcd": 0}
    assert "| haa_4b_ma30 | 10 |" in summary.read_text()


def test_an_unreadable_cutflow_is_one_line_and_writes_nothing(tmp_path, capsys):
    summary, record = tmp_path / "summary.md", tmp_path / "status.json"
    args = ["--cutflow", str(tmp_path / "absent.csv"), "--classes", "[]"]
    assert status.main([*args, "--summary", str(summary), "--status", str(record)]) == 2
    assert "cannot read the cutflow" in capsys.readouterr().err
    assert not summary.exists() and not record.exists()
