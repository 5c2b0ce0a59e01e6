"""Forced-decay weights: every decay of a forced particle costs its open branching fraction."""

import numpy as np
import pytest

from evenet.generation.particles import FlatParticles
from evenet.generation.weights import forced_decay_factor


def _record(pids, d1, d2, offsets):
    n = len(pids)
    zeros = np.zeros(n)
    event = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    return FlatParticles(
        offsets=np.asarray(offsets),
        event=event,
        pid=np.asarray(pids),
        status=np.full(n, -91),
        mother1=np.zeros(n, int),
        daughter1=np.asarray(d1),
        daughter2=np.asarray(d2),
        px=zeros,
        py=zeros,
        pz=zeros,
        e=zeros,
        m=zeros,
        vx=zeros,
        vy=zeros,
        vz=zeros,
    )


def test_factor_counts_decays_not_copies_and_uses_antiparticle_fractions():
    # Event 0: Υ copied once (index 0 -> 1), then decays to μ⁺μ⁻ (2, 3): one decay.
    # Event 1: a B⁰ and a B̄⁰ each decaying (local 0 -> 2, 1 -> 3): particle and antiparticle.
    # Event 2: nothing forced.
    p = _record(
        pids=[553, 553, 13, -13, 511, -511, 11, -11, 211],
        d1=[1, 2, 0, 0, 2, 3, 0, 0, 0],
        d2=[1, 3, 0, 0, 2, 3, 0, 0, 0],
        offsets=[0, 4, 8, 9],
    )
    fractions = {553: (0.0248, 0.0248), 511: (0.1, 0.2)}
    np.testing.assert_allclose(forced_decay_factor(p, fractions), [0.0248, 0.1 * 0.2, 1.0])


def test_no_forced_decays_means_unit_factor():
    p = _record([553], [0], [0], [0, 1])
    assert forced_decay_factor(p, {}).tolist() == pytest.approx([1.0])
