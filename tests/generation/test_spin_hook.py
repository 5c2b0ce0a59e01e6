"""tt̄ spin correlations from the process-level hook, measured at parton level.

Showering is off and m_tt < 400 GeV (PhaseSpace:mHatMax), as the issue asks; D = −3⟨cos φ⟩
with σ(D) ≤ 0.03 needs about 3,300 events.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from evenet.catalogue import get_process
from evenet.generation.pythia_driver import build_pythia
from evenet.generation.spin_hook import _top_system
from evenet.physics.spin import cos_phi

EVENTS = 3600
PARTON_LEVEL = ("PartonLevel:all = off", "HadronLevel:all = off", "PhaseSpace:mHatMax = 400.")


def parton_level_d(spin_correlation: bool, seed: int = 3) -> tuple[float, float, object]:
    process = dataclasses.replace(get_process("ttbar_dilepton"), spin_correlation=spin_correlation)
    run = build_pythia(process, seed, ["Beams:eCM = 13000."], extra_settings=PARTON_LEVEL)
    values = []
    while len(values) < EVENTS:
        if not run.pythia.next():
            continue
        system = _top_system(run.pythia.process)
        assert system is not None, "every ttbar_dilepton event has a readable tt̄ system"
        _, top, antitop, lepton_plus, lepton_minus = system
        values.append(cos_phi(top, antitop, lepton_plus, lepton_minus))
    values = np.asarray(values)
    return -3 * values.mean(), 3 * values.std() / np.sqrt(len(values)), run


@pytest.fixture(scope="module")
def with_hook():
    return parton_level_d(True)


def test_spin_correlation_present_with_the_hook(with_hook):
    d, error, _ = with_hook
    assert error <= 0.03
    assert -0.60 <= d <= -0.35, f"D = {d:.3f} ± {error:.3f}"


def test_spin_correlation_absent_without_the_hook():
    d, error, _ = parton_level_d(False)
    assert error <= 0.03
    assert abs(d) < 0.1, f"D = {d:.3f} ± {error:.3f}"


def test_veto_keeps_half_and_cross_section_is_taken_before_it(with_hook):
    _, _, run = with_hook
    assert 0.45 < run.hook.acceptance < 0.55
    sigma_before, _ = run.cross_section_pb()
    sigma_pythia = run.pythia.infoPython().sigmaGen() * 1e9
    assert sigma_before == pytest.approx(sigma_pythia / run.hook.acceptance)
