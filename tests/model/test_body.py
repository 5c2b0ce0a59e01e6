"""The body's symmetries: permutation equivariance, padding invariance, periodic phi."""

from __future__ import annotations

import math

import pytest
import torch

from evenet.io.topologies import load_topologies
from evenet.model.config import preset
from evenet.model.model import EveNet
from evenet.model.normalize import neutral_stats
from evenet.model.synthetic import synthetic_batch


@pytest.fixture(scope="module")
def model() -> EveNet:
    torch.manual_seed(0)
    config = preset("tiny", num_classes=3)
    # LayerScale 1e-5 would make every block nearly the identity: use O(1) so a broken mask
    # or a wrong neighbour actually changes the outputs.
    config = type(config)(**{**config.__dict__, "body": type(config.body)(layer_scale=1.0)})
    return EveNet(config, neutral_stats(), load_topologies().summary()).eval()


@pytest.fixture(scope="module")
def batch():
    return synthetic_batch(8, load_topologies().summary(), 3, seed=3)


def test_permuting_real_objects_permutes_outputs(model, batch):
    """Guards against positional leakage: the body must not care in which slot an object sits."""
    enc = model.encode(batch)
    n_real = batch["x_mask"].sum(1)
    permuted = {k: v.clone() for k, v in batch.items()}
    perms = []
    for i, n in enumerate(n_real.tolist()):
        perm = torch.cat(
            [torch.randperm(n, generator=torch.Generator().manual_seed(i)), torch.arange(n, 18)]
        )
        perms.append(perm)
        permuted["x"][i] = batch["x"][i, perm]
        permuted["x_mask"][i] = batch["x_mask"][i, perm]
    enc_p = model.encode(permuted)
    torch.testing.assert_close(enc_p.event, enc.event, atol=1e-4, rtol=1e-4)
    for i, perm in enumerate(perms):
        real = batch["x_mask"][i, perm]
        torch.testing.assert_close(
            enc_p.tokens[i][real], enc.tokens[i, perm][real], atol=1e-4, rtol=1e-4
        )


def test_padding_content_is_ignored(model, batch):
    """Guards against padding leaking into real objects through attention, kNN or pair bias."""
    inputs = model.inputs(batch)
    enc = model.body(**inputs)
    junk = {k: v.clone() for k, v in inputs.items()}
    pad = ~inputs["mask"]
    junk["objects"][pad] = torch.randn(int(pad.sum()), junk["objects"].shape[-1]) * 5
    junk["kinematics"][pad] = torch.rand(int(pad.sum()), 4) * 100
    enc_j = model.body(**junk)
    torch.testing.assert_close(enc_j.event, enc.event)
    torch.testing.assert_close(enc_j.tokens[inputs["mask"]], enc.tokens[inputs["mask"]])


def test_phi_shift_by_two_pi_changes_nothing(model, batch):
    """Guards against phi treated as a line (EveNet's public code maps +-pi far apart)."""
    shifted = {k: v.clone() for k, v in batch.items()}
    shifted["x"][..., 3] += 2 * math.pi * batch["x_mask"]
    shifted["globals"][:, 1] -= 2 * math.pi
    enc, enc_s = model.encode(batch), model.encode(shifted)
    torch.testing.assert_close(enc_s.event, enc.event, atol=1e-4, rtol=1e-4)
    real = batch["x_mask"]
    torch.testing.assert_close(enc_s.tokens[real], enc.tokens[real], atol=1e-4, rtol=1e-4)


def test_knn_wraps_phi_and_skips_padding():
    """Guards against neighbours across the phi seam being missed, or padding chosen."""
    from evenet.model.local import knn

    eta = torch.tensor([[0.0, 0.0, 0.0, 0.0]])
    phi = torch.tensor([[3.1, -3.1, 1.0, 3.05]])
    mask = torch.tensor([[True, True, True, False]])
    index, valid = knn(eta, phi, mask, 1)
    assert index[0, 0, 0] == 1 and index[0, 1, 0] == 0  # across +-pi, not the padded slot 3
    assert valid[0, :3].all()
    index, valid = knn(eta, phi, mask, 3)
    assert not valid[0, 0, 2]  # only two real neighbours exist


def test_encoding_does_not_depend_on_the_number_of_padding_slots(model, batch):
    """Guards against padded keys left unmasked in attention (then outputs depend on N=18)."""
    inputs = model.inputs(batch)
    enc = model.body(**inputs)
    for i in range(3):
        n = int(inputs["mask"][i].sum())
        trimmed = {
            k: (v[i : i + 1, :n] if v.dim() > 2 or k == "mask" else v[i : i + 1])
            for k, v in inputs.items()
        }
        alone = model.body(**trimmed)
        torch.testing.assert_close(alone.event[0], enc.event[i], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(alone.tokens[0], enc.tokens[i, :n], atol=1e-4, rtol=1e-4)
