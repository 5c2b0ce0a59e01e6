"""EveNet's haa selection: each cut, the per-sample cutflow with N_eff, the event list."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from analyses.haa.selection import BTAG, LEPTON, PT, Cuts, cutflow, main, n_eff, select


def _event(jets: list[tuple[float, bool]], leptons: int = 0):
    """One event: jets as (pT, b-tagged) in the given (not necessarily sorted) order."""
    x = np.zeros((1, 18, 7))
    mask = np.zeros((1, 18), bool)
    for k in range(leptons):
        x[0, k, PT], x[0, k, LEPTON], x[0, k, BTAG] = 100.0, 1, 1  # a tag flag on a lepton
        mask[0, k] = True
    for k, (pt, tag) in enumerate(jets, start=leptons):
        x[0, k, PT], x[0, k, BTAG] = pt, tag
        mask[0, k] = True
    return x, mask


def test_each_cut():
    """Guards the four cuts, leptons never counting as jets, and unsorted jets."""
    events = [
        _event([(80, 1), (60, 1), (40, 1), (35, 0)]),  # passes
        _event([(35, 0), (40, 1), (80, 1), (60, 1)]),  # passes (order does not matter)
        _event([(80, 1), (60, 1), (40, 0), (35, 0)]),  # two b-tags
        _event([(80, 1), (60, 1), (40, 1)], leptons=1),  # three jets (+ a tagged lepton)
        _event([(80, 1), (60, 1), (40, 1), (25, 0)]),  # 4th jet below 30
        _event([(80, 1), (28, 1), (25, 1), (90, 0), (70, 0), (60, 0)]),  # 2nd b-jet below 30
        _event([(80, 1), (25, 1), (50, 1), (40, 0), (35, 0)]),  # passes: 2nd b-jet by pT is 50
    ]
    x = np.concatenate([e[0] for e in events])
    mask = np.concatenate([e[1] for e in events])
    steps = select(x, mask, Cuts())
    assert list(steps.values())[-1].tolist() == [1, 1, 0, 0, 0, 0, 1]
    assert steps[">= 3 b-tags"].tolist() == [1, 1, 0, 1, 1, 1, 1]  # the lepton not counted
    assert steps[">= 4 jets"].tolist() == [1, 1, 0, 0, 1, 1, 1]
    assert steps["jet 4 pT > 30 GeV"].tolist() == [1, 1, 0, 0, 0, 1, 1]
    looser = select(x, mask, Cuts(jet_min_pt=20.0, bjet_min_pt=20.0))
    assert list(looser.values())[-1].tolist() == [1, 1, 0, 0, 1, 1, 1]


def test_cutflow_per_sample_with_effective_counts():
    """Guards Σw, efficiencies and N_eff = (Σw)²/Σw² per sample and step."""
    steps = {"all events": np.ones(4, bool), "cut": np.array([1, 0, 1, 1], bool)}
    sample = np.array(["sig", "sig", "bkg", "bkg"], dtype=object)
    weight = np.array([1.0, 1.0, 3.0, 1.0])
    rows = cutflow(steps, sample, weight)
    assert [(r["sample"], r["step"], r["events"]) for r in rows] == [
        ("sig", "all events", 2),
        ("sig", "cut", 1),
        ("bkg", "all events", 2),
        ("bkg", "cut", 2),
    ]
    bkg = rows[3]
    assert bkg["weighted"] == 4.0 and bkg["n_eff"] == pytest.approx(16 / 10)
    assert rows[1]["efficiency"] == 0.5 and rows[1]["weighted_efficiency"] == 0.5
    assert n_eff(np.array([])) == 0.0


def test_missing_dataset_is_a_clear_error(tmp_path, capsys):
    code = main(
        [
            "--dataset",
            str(tmp_path / "nope"),
            "--cutflow",
            str(tmp_path / "c.csv"),
            "--events",
            str(tmp_path / "e.parquet"),
        ]
    )
    assert code == 1 and "is it a converted dataset" in capsys.readouterr().err
    assert not (tmp_path / "c.csv").exists()


def test_event_list_on_a_real_dataset(tmp_path, pythia_dataset):
    """Guards the CLI on converted Pythia signal: the list holds exactly the selected events."""
    dataset = pythia_dataset("haa_4b_ma30", 400)
    loose = ["--min-btags", "2", "--min-jets", "2", "--jet-min-pt", "0", "--bjet-min-pt", "0"]
    out = [
        "--dataset",
        str(dataset),
        "--cutflow",
        str(tmp_path / "c.csv"),
        "--events",
        str(tmp_path / "e.parquet"),
    ]
    assert main(out + loose) == 0
    events = pq.read_table(tmp_path / "e.parquet")
    assert events.column_names == ["sample", "run", "event", "split"]
    last = (tmp_path / "c.csv").read_text().strip().splitlines()[-1].split(",")
    assert int(last[2]) == events.num_rows > 0
