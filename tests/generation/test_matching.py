"""Greedy one-to-one ΔR matching."""

import numpy as np

from evenet.generation.matching import greedy_match, leaf_partons, match


def test_greedy_match_is_one_to_one_and_takes_the_closest_pair_first():
    d = np.array([[[0.05, 0.30], [0.02, 0.50]]])  # object 1 is closest to parton 0
    assert greedy_match(d, 0.4).tolist() == [[1, 0]]


def test_greedy_match_respects_the_cone():
    d = np.array([[[0.5, 0.6]]])
    assert greedy_match(d, 0.4).tolist() == [[-1]]


def test_match_returns_local_genpart_indices_per_event():
    # Two events; event 1's partons are at local indices 0 (not allowed) and 1.
    obj_event = np.array([0, 1])
    gen_event = np.array([0, 1, 1])
    out = match(
        obj_event,
        np.array([0.0, 1.0]),
        np.array([0.0, 1.0]),
        gen_event,
        np.array([0.01, 1.0, 1.01]),
        np.array([0.0, 1.0, 1.0]),
        np.array([True, False, True]),
        np.array([0, 0, 1]),
        2,
        0.4,
    )
    assert out.tolist() == [0, 1]


def test_leaf_partons_excludes_mothers():
    mothers = np.array([-1, 0, 0, -1, 0])  # local indices within each event
    events = np.array([0, 0, 0, 1, 1])
    assert leaf_partons(mothers, events).tolist() == [False, True, True, False, True]
