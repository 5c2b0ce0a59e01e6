"""Stage 1 of the anomaly analysis: the mass-only bump hunt of one input, and the status a
CI-scale input gets."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from analyses.anomaly.mass_only import main

WINDOW = {"sr": [9.0, 10.6], "sb": [5.0, 16.0], "sr_edges": 12, "degree": 3}


def _options(**change):
    return {
        "column": "M_ll",
        "weight": None,
        "where": [],
        "window": WINDOW,
        "min_sideband_events": 100,
        **change,
    }


def _write(path, masses):
    pq.write_table(pa.table({"M_ll": masses}), path)
    return path


def test_a_bump_on_a_falling_spectrum_is_found_and_drawn(tmp_path):
    rng = np.random.default_rng(0)
    background = 5.0 + rng.exponential(4.0, 40_000)
    masses = np.concatenate([background[background < 16.0], rng.normal(9.46, 0.08, 800)])
    source = _write(tmp_path / "masses.parquet", masses)
    result, plot = tmp_path / "out" / "bumphunt_mass_only.json", tmp_path / "out" / "spectrum.png"
    argv = ["--dataset", str(source), "--options", json.dumps(_options())]
    assert main([*argv, "--result", str(result), "--plot", str(plot)]) == 0
    payload = json.loads(result.read_text())
    assert payload["status"] == "ok" and payload["converged"]
    assert payload["significance"] > 5
    assert abs(payload["s"] - 800) < 4 * np.sqrt(payload["b"])
    assert plot.is_file() and plot.with_suffix(".pdf").is_file()


def test_too_few_sideband_events_give_a_status_with_the_counts(tmp_path):
    source = _write(tmp_path / "few.parquet", np.array([5.5, 9.5, 9.6, 12.0, 0.0]))
    result, plot = tmp_path / "r.json", tmp_path / "s.png"
    argv = ["--dataset", str(source), "--options", json.dumps(_options())]
    assert main([*argv, "--result", str(result), "--plot", str(plot)]) == 0
    payload = json.loads(result.read_text())
    assert payload["status"] == "insufficient_events"
    assert (payload["events"], payload["sideband"], payload["signal_region"]) == (5, 2, 2)
    assert "2 sideband events < 100" in payload["reason"] and plot.is_file()
