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


def _edge_block_per_edge(block, h, index, valid, mask):
    """The EdgeConv update written per edge (the definition EdgeBlock computes faster)."""
    x = block.norm(h)
    b, n, k = index.shape
    neighbours = torch.stack([x[i, index[i]] for i in range(b)])  # (B, N, k, dim)
    centre = x.unsqueeze(2).expand_as(neighbours)
    messages = block.edge(torch.cat([centre, neighbours - centre], dim=-1))
    weights = valid.unsqueeze(-1).float()
    aggregated = (messages * weights).sum(2) / weights.sum(2).clamp(min=1.0)
    keep = mask.unsqueeze(-1).float()
    h = h + block.scale1(aggregated) * keep
    return h + block.scale2(block.ffn(block.norm2(h))) * keep


def test_edge_block_equals_the_per_edge_message_mean():
    """Guards the factorised edge MLP (per-object projections, mean before the last layer)
    against drifting from mean_j MLP([x_i, x_j - x_i]), including objects with no valid
    neighbour, whose message must stay zero rather than the last layer's bias."""
    from evenet.model.local import EdgeBlock, knn, neighbourhood

    torch.manual_seed(0)
    block = EdgeBlock(16, layer_scale=1.0, drop_path=0.0, dropout=0.0).eval()
    with torch.no_grad():
        block.edge[3].bias.normal_()  # a zero bias would hide a wrong bias term
    mask = torch.tensor([[True] * 6 + [False] * 2, [True] + [False] * 7])  # event 2: one object
    eta, phi = torch.randn(2, 8), torch.rand(2, 8) * 6.28 - 3.14
    index, valid = knn(eta, phi, mask, 3)
    h = torch.randn(2, 8, 16)
    expected = _edge_block_per_edge(block, h, index, valid, mask)
    got = block(h, neighbourhood(index, valid, h.dtype), mask)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not valid[1, 0].any()  # the lone object really had no neighbour
