"""CATHODE's conditional flow learns a mass-dependent toy density and samples it."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from analyses.anomaly.flow import FlowSettings, train_flow


def _toy(rng, mass):
    """Three features whose means move with the mass (the flow must learn the dependence)."""
    n = len(mass)
    pt = 2.0 * mass + rng.normal(0, 1.5, n)
    ip0 = 0.1 * mass + rng.normal(0, 0.2, n)
    ip1 = -0.05 * mass + 0.5 * ip0 + rng.normal(0, 0.2, n)
    return np.column_stack([pt, ip0, ip1])


def test_the_flow_reproduces_the_conditional_density():
    rng = np.random.default_rng(0)
    mass = rng.uniform(5, 16, 4000)
    trained = train_flow(_toy(rng, mass), mass, FlowSettings(epochs=40, seed=1))
    train, validation = np.array(trained.history).T
    assert validation[trained.best_epoch] < validation[0] - 0.5  # it learned something
    test_mass = rng.uniform(5, 16, 3000)
    real = _toy(rng, test_mass)
    fake = trained.sample(test_mass, seed=2)
    slope = np.polyfit(test_mass, fake[:, 0], 1)[0]
    assert abs(slope - 2.0) < 0.2  # the mass dependence, not only the marginal
    x = np.vstack([np.column_stack([real, test_mass]), np.column_stack([fake, test_mass])])
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    order = rng.permutation(len(y))
    fit, held = order[: len(y) // 2], order[len(y) // 2 :]
    classifier = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(x[fit], y[fit])
    assert roc_auc_score(y[held], classifier.predict_proba(x[held])[:, 1]) < 0.6
    assert np.isfinite(trained.log_prob(real, test_mass)).all()
