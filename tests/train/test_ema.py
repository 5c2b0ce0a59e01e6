"""EMA of the weights (evenet/train/ema.py) and validation of the weights a run keeps."""

from __future__ import annotations

import torch
from torch import nn

from evenet.train.ema import EMA


def test_the_average_forgets_the_random_start():
    """Guards against issue 13 §1: with a constant decay of 0.999, 67% of every weight
    exported after 400 steps was still the random initialisation (0.999**400)."""
    model = nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)  # the "initialisation"
    ema = EMA(model, decay=0.999)
    with torch.no_grad():
        model.weight.fill_(0.0)  # trained weights, constant from the first step on
    for _ in range(400):
        ema.update(model)
    left = float(ema.shadow["weight"].abs().max())
    assert left < 1e-3, left  # the share of the initial value still in the average
    assert ema.current_decay() == 401 / 410  # still warming up towards 0.999
    first = EMA(model, decay=0.999)
    assert first.current_decay() == 0.1  # (1 + 0) / (10 + 0)


def test_the_update_count_is_saved_and_restored():
    model = nn.Linear(2, 2)
    ema = EMA(model, decay=0.99)
    for _ in range(5):
        ema.update(model)
    again = EMA(model, decay=0.99)
    again.load_state_dict(ema.state_dict())
    assert again.updates == 5 and again.current_decay() == ema.current_decay()


def test_validation_scores_the_ema_weights_and_restores_the_model(tmp_path, monkeypatch):
    """Guards against issue 13 §1: validation scored the raw weights while early stopping
    kept the EMA snapshot; and validated at mask fraction 0.5 while stage 2 trains at 1.0."""
    from evenet.train import validate
    from evenet.train.checkpointing import BestTracker
    from evenet.train.metrics import MetricsLog
    from evenet.train.options import TrainOptions

    model = nn.Linear(3, 1)
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        model.weight.add_(5.0)  # raw weights move away from the average
    raw = model.weight.detach().clone()
    seen = {}

    def fake_loss(model_, loader, tasks, weights, device, bf16, seed, transform, fraction):
        seen["weight"], seen["fraction"] = model_.weight.detach().clone(), fraction
        return {"loss": 1.0}

    monkeypatch.setattr(validate, "validation_loss", fake_loss)
    validator = validate.Validator(
        None, MetricsLog(tmp_path / "val.csv"), BestTracker(0), TrainOptions(), lambda _: None
    )
    validator.run(model, ema, 1, 0, (), {}, "cpu", False, None, 1.0)
    assert torch.equal(seen["weight"], ema.shadow["weight"]) and seen["fraction"] == 1.0
    assert torch.equal(model.weight, raw)  # training goes on with the raw weights
