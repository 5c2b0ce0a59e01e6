"""The qe selection: lepton and jet counts, charges, b candidates, the cutflow."""

from __future__ import annotations

import numpy as np

from analyses.qe.selection import BTAG, CHARGE, LEPTON, PT, cutflow, parton_mtt, select


def _event(objects: list[tuple[bool, bool, float]]) -> tuple[np.ndarray, np.ndarray]:
    """One event from (is_lepton, is_btag, charge) per object, pT descending in slot order."""
    x = np.zeros((1, 18, 7))
    mask = np.zeros((1, 18), bool)
    for k, (lepton, btag, charge) in enumerate(objects):
        x[0, k, PT] = 100 - k
        x[0, k, LEPTON], x[0, k, BTAG], x[0, k, CHARGE] = lepton, btag, charge
        mask[0, k] = True
    return x, mask


def _stack(events):
    return np.concatenate([e[0] for e in events]), np.concatenate([e[1] for e in events])


def test_steps_and_b_candidates():
    """Guards each cut and the b-candidate choice (two tagged, else tagged + leading untagged)."""
    events = [
        _event([(1, 0, +1), (1, 0, -1), (0, 1, 0), (0, 0, 0), (0, 1, 0)]),  # passes: tags 2, 4
        _event([(1, 0, -1), (1, 0, +1), (0, 0, 0), (0, 1, 0), (0, 0, 0)]),  # passes: 3 + 2
        _event([(1, 0, +1), (1, 0, +1), (0, 1, 0), (0, 1, 0)]),  # same charge
        _event([(1, 0, +1), (0, 1, 0), (0, 1, 0)]),  # one lepton
        _event([(1, 0, +1), (1, 0, -1), (1, 0, +1), (0, 1, 0), (0, 1, 0)]),  # three leptons
        _event([(1, 0, +1), (1, 0, -1), (0, 1, 0)]),  # one jet
        _event([(1, 0, +1), (1, 0, -1), (0, 0, 0), (0, 0, 0)]),  # no b-tag
    ]
    found = select(*_stack(events))
    assert found.passed.tolist() == [True, True, False, False, False, False, False]
    assert found.steps["exactly 2 leptons"].tolist() == [1, 1, 1, 0, 0, 1, 1]
    assert found.steps["opposite charge"].tolist() == [1, 1, 0, 0, 0, 1, 1]
    assert found.b_candidates[0].tolist() == [2, 4]
    assert found.b_candidates[1].tolist() == [2, 3]
    assert found.lepton_plus[:2].tolist() == [0, 1] and found.lepton_minus[:2].tolist() == [1, 0]
    assert (found.b_candidates[2:] == -1).all() and (found.lepton_plus[2:] == -1).all()
    masks = list(found.steps.values())
    for earlier, later in zip(masks, masks[1:], strict=False):
        assert not (later & ~earlier).any()  # each step implies the previous one


def test_parton_mtt_and_cutflow_rows():
    """Guards m_tt of two tops at rest (2 m_t) and the weighted cutflow with the region."""
    partons = np.zeros((2, 10, 4))
    partons[:, :2, 3] = 173.0
    partons[:, :2, 0] = [[1e-3, 1e-3], [300.0, 300.0]]  # at rest / back to back below
    partons[1, 1, 2] = np.pi
    mtt = parton_mtt(partons, np.ones((2, 10), bool))
    assert abs(mtt[0] - 346.0) < 1e-3 and mtt[1] > 400
    assert np.isnan(parton_mtt(partons, np.zeros((2, 10), bool))).all()
    x, mask = _stack([_event([(1, 0, +1), (1, 0, -1), (0, 1, 0), (0, 0, 0)])] * 2)
    rows = cutflow(select(x, mask), np.array([2.0, 0.5]), mtt < 400, 400.0)
    assert [r["events"] for r in rows] == [2, 2, 2, 2, 2, 1]
    assert rows[-1]["step"] == "parton m_tt < 400 GeV (region)" and rows[-1]["weighted"] == 2.0
    assert rows[0]["weighted_efficiency"] == 1.0


def test_unusable_datasets_are_refused_with_what_to_fix(tmp_path, capsys):
    """Guards against a traceback (no manifest) or a silent empty cutflow (another sample)."""
    from analyses.qe.selection import main
    from tests.shard_factory import write_dataset

    assert main(["--dataset", str(tmp_path / "nope"), "--output", str(tmp_path / "c.csv")]) == 1
    assert "does not exist: is" in capsys.readouterr().err
    write_dataset(tmp_path / "other", 60)  # synthetic: no ttbar_dilepton topology
    assert main(["--dataset", str(tmp_path / "other"), "--output", str(tmp_path / "c.csv")]) == 1
    assert "no topology 'ttbar_dilepton'" in capsys.readouterr().err
    assert not (tmp_path / "c.csv").exists()


def test_non_finite_inputs_are_refused():
    """Guards against NaN partons silently leaving the region (NaN < 400 is False)."""
    import pytest

    from analyses.qe.selection import SelectionError, check_finite

    x, mask = np.zeros((2, 18, 7)), np.ones((2, 10), bool)
    partons = np.zeros((2, 10, 4))
    check_finite(x, partons, mask, "ds")
    partons[1, 3, 0] = np.nan
    with pytest.raises(SelectionError, match=r"non-finite values in x of 0 and in partons of 1"):
        check_finite(x, partons, mask, "ds")
    mask[1, 3] = False  # a missing parton may hold anything
    check_finite(x, partons, mask, "ds")
