"""Cross-check unfoldings: iterative Bayes through pyunfold and the linear template fit."""

from __future__ import annotations

import numpy as np
import pytest

from evenet.stats.iterative import iterative_bayes
from evenet.stats.template import TemplateFitError, fit_linear_template
from evenet.stats.unfolding import Response, build_response, histogram, unfold


def test_iterative_bayes_corrects_the_efficiency_of_a_diagonal_response():
    """Guards the response convention handed to pyunfold (columns summing to the
    efficiency): a diagonal response returns the data over the efficiency."""
    response = Response(np.eye(3), np.array([0.5, 0.8, 1.0]), np.zeros(3), np.ones(3))
    counts, iterations = iterative_bayes(response, np.array([50.0, 80.0, 30.0]))
    np.testing.assert_allclose(counts, [100.0, 100.0, 30.0], rtol=1e-6)
    assert iterations >= 1


def test_iterative_bayes_agrees_with_the_inversion_on_mild_smearing():
    """Guards the cross-check: on a well-conditioned response the iterative result of the
    response events' own reco counts is close to their truth, as the inversion's is."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, 50_000)
    x = x[rng.uniform(0, 1.5, len(x)) < 1 + 0.5 * x]
    edges = np.linspace(-1, 1, 7)
    truth = np.clip(np.digitize(x, edges) - 1, 0, 5)
    reco_x = x + rng.normal(0, 0.1, len(x))
    reco = np.digitize(reco_x, edges) - 1
    reco[(reco_x < -1) | (reco_x >= 1) | (rng.uniform(size=len(x)) > 0.7)] = -1
    response = build_response(truth, reco, x, 6)
    data, _ = histogram(reco, 6)
    counts, _ = iterative_bayes(response, data)
    expected, _ = histogram(truth, 6)
    np.testing.assert_allclose(counts, expected, rtol=0.03)
    np.testing.assert_allclose(unfold(response, data)[0], expected, rtol=1e-9)


def test_template_fit_recovers_theta_from_asimov_counts():
    """Guards the likelihood: expected counts of theta = 0.3 and norm 2 give them back."""
    base = np.array([40.0, 60.0, 80.0, 60.0, 40.0])
    slope = np.array([-10.0, -5.0, 0.0, 5.0, 10.0])
    fit = fit_linear_template(2.0 * (base + 0.3 * slope), base, slope)
    assert fit.theta == pytest.approx(0.3, abs=1e-4)
    assert fit.norm == pytest.approx(2.0, rel=1e-4)
    assert 0 < fit.theta_error < 1
    with pytest.raises(TemplateFitError, match="predicts no events"):
        fit_linear_template(np.ones(5), np.zeros(5), slope)
