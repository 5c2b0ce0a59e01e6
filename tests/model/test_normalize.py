"""Input normalisation from stats.json: transforms, periodic phi, and bad statistics."""

from __future__ import annotations

import math

import pytest
import torch

from evenet.model.normalize import OBJECT_INPUTS, Normalizer, StatsError, neutral_stats


def _stats():
    stats = neutral_stats()
    stats["x"]["mean"] = [4.0, 3.5, 0.0, 0.0, 0.2, 0.1, 0.0]
    stats["x"]["std"] = [0.8, 0.6, 1.3, 1.0, 0.4, 0.3, 0.3]
    return stats


def test_objects_are_log1p_standardised_with_phi_as_cos_sin():
    """Guards against standardising phi as a line or skipping the log1p of E and pT."""
    norm = Normalizer(_stats())
    x = torch.tensor([[[100.0, 50.0, 1.0, math.pi, 1.0, 0.0, 0.0]]])
    z = norm.objects(x)
    assert OBJECT_INPUTS == ("E", "pT", "eta", "cos_phi", "sin_phi", "isBJet", "isLepton", "charge")
    expected = [
        (math.log1p(100) - 4.0) / 0.8,
        (math.log1p(50) - 3.5) / 0.6,
        1.0 / 1.3,
        -1.0,
        0.0,
        (1.0 - 0.2) / 0.4,
        -0.1 / 0.3,
        0.0,
    ]
    torch.testing.assert_close(z[0, 0], torch.tensor(expected), atol=1e-5, rtol=1e-5)
    back = norm.objects_inverse(z)
    torch.testing.assert_close(back[0, 0, :3], x[0, 0, :3], rtol=1e-4, atol=1e-4)
    assert abs(abs(float(back[0, 0, 3])) - math.pi) < 1e-5


def test_padded_slots_become_exact_zeros():
    """Guards against padding carrying -mean/std values into the body."""
    norm = Normalizer(_stats())
    x = torch.rand(2, 18, 7)
    mask = torch.zeros(2, 18, dtype=torch.bool)
    mask[:, :3] = True
    z = norm.objects(x, mask)
    assert torch.all(z[~mask] == 0) and torch.any(z[mask] != 0)


def test_missing_or_non_finite_statistics_are_refused():
    """Guards against NaN inputs from a stats.json without a feature or with NaN moments."""
    stats = _stats()
    stats["x"]["features"] = ["E", "pT", "eta", "phi", "isBJet", "isLepton", "q"]
    with pytest.raises(StatsError, match="'charge'"):
        Normalizer(stats)
    stats = _stats()
    stats["globals"]["std"][0] = float("nan")
    with pytest.raises(StatsError, match="non-finite"):
        Normalizer(stats)
    stats = _stats()
    del stats["globals"]
    with pytest.raises(StatsError, match="no 'globals'"):
        Normalizer(stats)


@pytest.mark.parametrize("group", ["objects", "globals", "neutrinos"])
def test_inverse_undoes_the_transform(group):
    """Guards against the inverse (used for noised copies and generated outputs) mixing up
    columns around the periodic angle or skipping the expm1 of log features."""
    norm = Normalizer(_stats())
    width = {"objects": 7, "globals": 10, "neutrinos": 3}[group]
    raw = torch.rand(4, 5, width, generator=torch.Generator().manual_seed(3)) * 200.0
    angle = {"objects": 3, "globals": 1, "neutrinos": 2}[group]
    raw[..., angle] = raw[..., angle] / 200.0 * 6.0 - 3.0  # inside (-pi, pi]
    back = getattr(norm, f"{group}_inverse")(getattr(norm, group)(raw))
    torch.testing.assert_close(back, raw, rtol=1e-4, atol=1e-3)
