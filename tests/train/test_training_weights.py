"""Training weights: mean |w| = 1 per process, then the configured category shares."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evenet.catalogue import load_catalogue
from evenet.model.errors import ModelConfigError
from evenet.train.weights import TrainWeights, _train_weights, process_factors
from tests.shard_factory import write_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("weights"), 3000).parent


def test_without_a_mix_every_process_keeps_its_event_share(dataset):
    """Guards against generator-weight scales (e.g. biased QCD weights) deciding the mix."""
    factors = process_factors(dataset)
    process, weight = _train_weights(dataset)
    train = np.array([factors[int(p)] for p in process]) * np.abs(weight)
    assert train.mean() == pytest.approx(1.0)
    for p in np.unique(process):
        assert train[process == p].mean() == pytest.approx(1.0)


def test_a_mix_sets_the_category_shares(dataset):
    """Guards against the pretraining mix being ignored or applied per event count."""
    category = {p.id: p.category for p in load_catalogue().values()}
    process, weight = _train_weights(dataset)
    present = sorted({category[int(p)] for p in np.unique(process)})
    mix = {c: share for c, share in zip(present, (0.7, 0.2, 0.1), strict=False)}
    factors = process_factors(dataset, mix)
    train = np.array([factors[int(p)] for p in process]) * np.abs(weight)
    cats = np.array([category[int(p)] for p in process])
    total = sum(mix[c] for c in present)
    for c in present:
        assert train[cats == c].sum() / train.sum() == pytest.approx(mix[c] / total)
    with pytest.raises(ModelConfigError, match="unknown categories"):
        process_factors(dataset, {"nonsense": 1.0})


def test_train_weight_column_follows_the_process():
    """Guards against a factor applied to the wrong process (lookup by position)."""
    add = TrainWeights({5: 2.0, 1: 0.5})
    batch = add({"process": torch.tensor([1, 5, 7]), "weight": torch.tensor([2.0, -1.0, 3.0])})
    assert batch["train_weight"].tolist() == [1.0, -2.0, 0.0]
