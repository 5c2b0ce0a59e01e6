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


def _with_cross_sections(folder, xsec: dict[str, float]):
    """A dataset of one process per sample whose manifest carries the given σ per sample."""
    import json

    path = write_dataset(folder, 3000, samples={"ttbar_dilepton": 1, "wjets": 24, "zjets": 26})
    manifest = json.loads(path.read_text())
    for name, sigma in xsec.items():
        manifest["samples"][name]["xsec_pb"] = sigma
    path.write_text(json.dumps(manifest))
    return path.parent


def test_cross_section_weighting_gives_physical_weights_then_the_mix(tmp_path):
    """Guards against slices combined by event count (a pTHat slice's σ must set its share)."""
    xsec = {"ttbar_dilepton": 2.0, "wjets": 30.0, "zjets": 10.0}
    dataset = _with_cross_sections(tmp_path, xsec)
    sum_weights = {s: e["sum_weights"] for s, e in load_manifest_samples(dataset).items()}
    factors = process_factors(dataset, weighting="cross_section")
    process, weight = _train_weights(dataset)
    train = np.array([factors[int(p)] for p in process]) * np.abs(weight)
    assert train.mean() == pytest.approx(1.0)
    # Per event: σ / Σw of its sample, up to one common factor.
    per_event = {p: xsec[s] / sum_weights[s] for s, p in (("ttbar_dilepton", 1), ("wjets", 24))}
    assert factors[24] / factors[1] == pytest.approx(per_event[24] / per_event[1])
    # The mix then balances categories by their physical Σ (ttbar vs the two background slices).
    category = {p.id: p.category for p in load_catalogue().values()}
    mix = {category[1]: 0.5, category[24]: 0.5}
    assert category[24] == category[26]
    balanced = process_factors(dataset, mix, weighting="cross_section")
    train = np.array([balanced[int(p)] for p in process]) * np.abs(weight)
    assert train[process == 1].sum() == pytest.approx(train[process != 1].sum())
    assert balanced[24] / balanced[26] == pytest.approx(factors[24] / factors[26])
    with pytest.raises(ModelConfigError, match="weighting"):
        process_factors(dataset, weighting="sigma")


def load_manifest_samples(dataset):
    from evenet.io.manifest import load_manifest

    return load_manifest(dataset)["samples"]
