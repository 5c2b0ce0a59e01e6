"""The qe stages on a real (small) Pythia tt̄ → ℓℓ dataset: reconstruction bookkeeping, the
parton-level table and the response study run on converted events, not only on synthetic
arrays."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analyses.qe import parton, reconstruct, response_study
from evenet.physics.neutrino import M_TOP, M_W


@pytest.fixture(scope="module")
def dataset(pythia_dataset):
    return pythia_dataset("ttbar_dilepton", 400)


def test_reconstruction_bookkeeping(dataset, tmp_path):
    """Guards the stage's outputs on real events: every selected test event in each method's
    file, halves adding up, observables within [-1, 1], D = D_phi event by event."""
    rows, info = reconstruct.reconstruct_all(str(dataset), [], tmp_path, M_TOP, M_W)
    assert [r["method"] for r in rows] == ["analytic"]  # diagnostics have no pairing row
    assert info["selected"] == info["half_a_selected"] + info["half_b_selected"] > 0
    assert 0 <= info["methods"]["analytic"]["no_solution_fraction"] < 1
    table = pd.read_parquet(tmp_path / "parton.parquet")
    assert len(table) == info["test_events"] and table["selected"].sum() == info["selected"]
    for label in ("analytic", "analytic_truth_pairing", "analytic_truth_nu"):
        reco = pd.read_parquet(tmp_path / f"{label}.parquet")
        assert len(reco) == info["selected"]
        cos = reco[[c for c in reco.columns if c.startswith(("cos_", "cc_"))]].to_numpy()
        assert np.isfinite(cos).all() and (np.abs(cos) <= 1 + 1e-9).all()
    d = -(table["cc_kk"] + table["cc_rr"] + table["cc_nn"])
    np.testing.assert_allclose(d, -table["cos_phi"], atol=1e-12)
    assert 0 < rows[0]["eff_all"] <= rows[0]["eff_matchable"] <= 1


def test_parton_table_and_response_study_run_on_real_events(dataset):
    """Guards the two dataset-wide stages: regions with their event counts, and a response
    study whose rows carry numbers or the reason they could not be computed."""
    rows = parton.parton_rows(parton.parton_events(str(dataset)), 400.0)
    regions = {r["region"]: r["events"] for r in rows}
    assert regions["all"] == 400 and 0 < regions["m_tt < 400 GeV"] < 400
    study = response_study.study(str(dataset), 400.0, 8, 5, 1)
    assert len(study) == 2 * len(response_study.QUANTITIES)
    for row in study:
        assert row["status"] or np.isfinite(row["unfolded"])
    assert json.dumps(study, default=float)  # plain values, ready for the CSV
