"""Assignment (symmetric tensor attention) and segmentation (set prediction) heads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from evenet.io.topologies import load_topologies
from evenet.model.encoded import Encoded
from evenet.model.heads.assignment import AssignmentHead
from evenet.model.heads.segmentation import SegmentationHead, min_cost_matching

N, R, D = 18, 4, 3


@pytest.fixture(autouse=True)
def one_thread():
    """These tensors are tiny: thread start-up and contention on a shared CPU dominate."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def topology(name: str) -> dict:
    return next(t for t in load_topologies().summary() if t["name"] == name)


def random_batch(topo: dict, batch: int, seed: int, other: int = 0) -> dict:
    """Events of `topo` (the last `other` ones of another topology) with distinct real slots as
    daughters, some daughters unmatched, and a consistent `segmentation`."""
    gen = torch.Generator().manual_seed(seed)
    n_real = torch.randint(7, N + 1, (batch,), generator=gen)
    x_mask = torch.arange(N).unsqueeze(0) < n_real.unsqueeze(1)
    assignment = torch.full((batch, R, D), -1, dtype=torch.int16)
    segmentation = torch.full((batch, N), -1, dtype=torch.int8)
    sizes = [len(ds) for ds in topo["resonances"].values()]
    for b in range(batch):
        slots = torch.randperm(int(n_real[b]), generator=gen).tolist()
        for r, d in enumerate(sizes):
            for j in range(d):
                if torch.rand((), generator=gen) < 0.15:
                    continue  # this daughter was not reconstructed
                assignment[b, r, j] = slots.pop()
                segmentation[b, assignment[b, r, j]] = r
    topo_id = torch.full((batch,), topo["id"], dtype=torch.int16)
    topo_id[batch - other :] = topo["id"] % 8 + 1
    return {
        "assignment": assignment,
        "segmentation": segmentation,
        "topology": topo_id,
        "x_mask": x_mask,
    }


def random_encoded(batch: dict, hidden: int, seed: int) -> Encoded:
    gen = torch.Generator().manual_seed(seed)
    size = batch["x_mask"].shape[0]
    tokens = torch.randn(size, N, hidden, generator=gen)
    return Encoded(tokens, batch["x_mask"], torch.randn(size, hidden, generator=gen))


@pytest.mark.parametrize("name", ["ttbar_dilepton", "haa_4b", "ttbar_semileptonic"])
def test_assignment_shapes_and_finite_loss(name):
    """Guards against wrong output shapes, NaN/inf losses and predictions on padded slots."""
    torch.manual_seed(0)
    topo = topology(name)
    batch = random_batch(topo, 6, seed=1, other=1)
    head = AssignmentHead(32, topo, dim=16)
    out = head(random_encoded(batch, 32, seed=2))
    sizes = [len(ds) for ds in topo["resonances"].values()]
    assert [tuple(lp.shape) for lp in out["log_probs"]] == [(6,) + (N,) * d for d in sizes]
    assert out["detection"].shape == (6, len(sizes))
    loss = head.loss(out, batch)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)
    pred = head.predict(out)
    assert pred["assignment"].shape == (6, len(sizes), max(sizes))  # the topology's own width
    assert pred["probability"].shape == pred["detection"].shape == (6, len(sizes))
    for r, d in enumerate(sizes):
        tuples = pred["assignment"][:, r, :d]
        assert (pred["assignment"][:, r, d:] == -1).all()
        assert batch["x_mask"].gather(1, tuples).all()
        assert all(len(set(t.tolist())) == d for t in tuples)


def test_assignment_loss_invariant_under_resonance_swap():
    """Guards against ignoring the a1<->a2 resonance symmetry of haa_4b in the loss."""
    torch.manual_seed(0)
    topo = topology("haa_4b")
    batch = random_batch(topo, 8, seed=3)
    head = AssignmentHead(32, topo, dim=16)
    out = head(random_encoded(batch, 32, seed=4))
    swapped = dict(batch, assignment=batch["assignment"][:, [1, 0, 2, 3]])
    assert torch.allclose(head.loss(out, batch), head.loss(out, swapped), rtol=1e-6)
    # Without the symmetry (ttbar_dilepton shape, same head) the swap must matter.
    plain = dict(topo, symmetries={"daughters": topo["symmetries"]["daughters"], "resonances": []})
    torch.manual_seed(0)
    head_plain = AssignmentHead(32, plain, dim=16)
    out = head_plain(random_encoded(batch, 32, seed=4))
    assert not torch.allclose(head_plain.loss(out, batch), head_plain.loss(out, swapped))


def test_symmetric_divergence_pushes_interchangeable_resonances_apart():
    """Guards issue 13 §2 (SPANet's symmetric-divergence term): two interchangeable resonances
    (a1, a2 of haa_4b) predicting the same distribution cost exp(0) = 1 more, disjoint ones
    exp(-ln(2)^2); topologies without such pairs and events whose targets are not usable get
    nothing, and the term is part of the loss with its weight."""
    from evenet.model.heads.assignment import jensen_shannon

    topo = topology("haa_4b")
    batch = random_batch(topo, 4, seed=30)
    head = AssignmentHead(32, topo, dim=16)
    assert head.symmetric_pairs == [(0, 1)]
    assert AssignmentHead(32, topology("ttbar_semileptonic"), dim=16).symmetric_pairs == []
    peaked = torch.full((4, N * N), -30.0)
    same = peaked.clone()
    same[:, 1] = 0.0
    other = peaked.clone()
    other[:, 2] = 0.0
    same, other = same.log_softmax(-1), other.log_softmax(-1)
    assert torch.allclose(jensen_shannon(same, same), torch.zeros(4), atol=1e-6)
    assert torch.allclose(jensen_shannon(same, other), torch.full((4,), math.log(2)), atol=1e-5)
    usable = [torch.tensor([True, True, False, True]), torch.tensor([True, True, True, False])]
    identical = {"log_probs": [same.view(4, N, N), same.view(4, N, N)]}
    apart = {"log_probs": [same.view(4, N, N), other.view(4, N, N)]}
    torch.testing.assert_close(head.divergence(identical, usable), torch.tensor([1.0, 1, 0, 0]))
    expected = math.exp(-(math.log(2) ** 2))
    torch.testing.assert_close(
        head.divergence(apart, usable), torch.tensor([expected, expected, 0, 0]), atol=1e-5, rtol=0
    )
    out = head(random_encoded(batch, 32, seed=31))
    without = AssignmentHead(32, topo, dim=16, divergence_weight=0.0)
    without.load_state_dict(head.state_dict())
    _, used = head._targets(batch, out["mask"])
    extra = head.divergence(out, used).mean()
    assert extra > 0
    torch.testing.assert_close(head.loss(out, batch) - without.loss(out, batch), extra)


def test_assignment_loss_invariant_under_daughter_swap():
    """Guards against b11/b12 getting separate projections (a non-symmetric tensor)."""
    torch.manual_seed(0)
    topo = topology("haa_4b")
    batch = random_batch(topo, 8, seed=5)
    head = AssignmentHead(32, topo, dim=16)
    out = head(random_encoded(batch, 32, seed=6))
    for lp in out["log_probs"]:
        assert torch.allclose(lp.exp(), lp.exp().transpose(1, 2), atol=1e-7)
    swapped = dict(batch, assignment=batch["assignment"][:, :, [1, 0, 2]])
    assert torch.allclose(head.loss(out, batch), head.loss(out, swapped), rtol=1e-6)
    # ttbar_dilepton's b/l daughters are not symmetric: its tensor must not be.
    dilepton = AssignmentHead(32, topology("ttbar_dilepton"), dim=16)
    lp = dilepton(random_encoded(batch, 32, seed=6))["log_probs"][0]
    assert not torch.allclose(lp.exp(), lp.exp().transpose(1, 2), atol=1e-7)


def test_assignment_padded_and_repeated_slots_have_zero_probability():
    """Guards against probability leaking onto padded slots or tuples reusing an object."""
    torch.manual_seed(0)
    topo = topology("ttbar_semileptonic")
    batch = random_batch(topo, 5, seed=7)
    out = AssignmentHead(32, topo, dim=16)(random_encoded(batch, 32, seed=8))
    pad = ~batch["x_mask"]
    for lp in out["log_probs"]:
        prob = lp.exp()
        d = lp.ndim - 1
        assert torch.allclose(prob.flatten(1).sum(-1), torch.ones(5), atol=1e-5)
        for axis in range(d):
            on_pad = prob.movedim(axis + 1, 1)[pad]  # every tuple with a padded slot here
            assert on_pad.numel() > 0 and on_pad.max() < 1e-12
        diagonal = prob.diagonal(dim1=1, dim2=2)  # tuples whose first two slots repeat
        assert diagonal.max() < 1e-12


def test_assignment_ignores_other_topologies_and_zero_weight_events():
    """Guards against events of another topology (or of zero weight) leaking into the loss."""
    torch.manual_seed(0)
    topo = topology("ttbar_dilepton")
    batch = random_batch(topo, 8, seed=9, other=3)
    head = AssignmentHead(32, topo, dim=16)
    out = head(random_encoded(batch, 32, seed=10))
    loss = head.loss(out, batch)
    changed = dict(batch, assignment=batch["assignment"].clone())
    changed["assignment"][5:] = torch.flip(changed["assignment"][5:], dims=[2])
    assert torch.equal(loss, head.loss(out, changed))
    weight = torch.zeros(8)
    weight[:2] = 1.0
    assert not torch.allclose(head.loss(out, batch, weight), loss)
    none = head.loss(out, batch, torch.zeros(8))
    assert none.item() == 0.0 and none.requires_grad


def test_assignment_overfits_fixed_events():
    """Guards against a head that cannot learn (wrong target indexing, detached logits)."""
    torch.manual_seed(0)
    topo = topology("ttbar_semileptonic")
    batch = random_batch(topo, 16, seed=11)
    inputs = torch.randn(16, N, 8, generator=torch.Generator().manual_seed(12))
    embed = nn.Linear(8, 32)
    head = AssignmentHead(32, topo, dim=32)
    params = [*embed.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=3e-3)

    def step() -> torch.Tensor:
        tokens = embed(inputs)
        enc = Encoded(tokens, batch["x_mask"], tokens.mean(1))
        return head.loss(head(enc), batch)

    first = step().item()
    for _ in range(100):
        optimizer.zero_grad()
        loss = step()
        loss.backward()
        optimizer.step()
    last = step().item()
    print(f"assignment overfit: {first:.3f} -> {last:.3f} (x{first / last:.1f})")
    assert first / last >= 5.0


def _scipy_cost(cost: np.ndarray, valid: np.ndarray) -> float:
    cols = np.flatnonzero(valid)
    rows, picked = linear_sum_assignment(cost[:, cols])
    return float(cost[:, cols][rows, picked].sum())


def test_min_cost_matching_equals_scipy():
    """Guards against a non-optimal or invalid (shared-query) batched matching."""
    gen = torch.Generator().manual_seed(13)
    for _ in range(50):
        q = int(torch.randint(1, 7, (), generator=gen))
        t = int(torch.randint(1, q + 1, (), generator=gen))
        b = int(torch.randint(1, 5, (), generator=gen))
        cost = torch.randn(b, q, t, generator=gen)
        valid = torch.rand(b, t, generator=gen) < 0.7
        matched = min_cost_matching(cost, valid)
        assert matched.shape == (b, t) and matched.dtype == torch.long
        for e in range(b):
            picks = matched[e][valid[e]].tolist()
            assert (matched[e][~valid[e]] == -1).all()
            assert len(set(picks)) == len(picks) and all(0 <= p < q for p in picks)
            ours = float(cost[e][picks, valid[e].nonzero().flatten()].sum())
            assert math.isclose(ours, _scipy_cost(cost[e].numpy(), valid[e].numpy()), abs_tol=1e-5)


def all_topologies() -> list[dict]:
    return load_topologies().summary()


TYPES = sorted({k for t in all_topologies() for k in t["types"].values()})  # H W Y Z a t
ROWS = max(len(t["resonances"]) for t in all_topologies())


def test_segmentation_shapes_and_finite_loss():
    """Guards against wrong output shapes, NaN losses, empty events and padded predictions."""
    torch.manual_seed(0)
    batch = random_batch(topology("ttH_bb_semileptonic"), 6, seed=14)
    batch["segmentation"][0] = -1  # an event without any instance
    head = SegmentationHead(32, all_topologies())
    assert head.types == TYPES
    out = head(random_encoded(batch, 32, seed=15))
    assert out["class_logits"].shape == (6, ROWS, len(TYPES) + 1)
    assert out["mask_logits"].shape == (6, ROWS, N)
    loss = head.loss(out, batch)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)
    pred = head.predict(out)
    assert pred["segmentation"].shape == (6, N)
    assert (pred["segmentation"][~batch["x_mask"]] == -1).all()
    assert ((pred["segmentation"] >= -1) & (pred["segmentation"] < len(TYPES))).all()
    assert ((pred["instance"] >= -1) & (pred["instance"] < ROWS)).all()
    none = head.loss(out, batch, torch.zeros(6, dtype=torch.bool))
    assert none.item() == 0.0 and none.requires_grad


def test_segmentation_ignores_events_without_a_topology():
    """Guards against training 'no resonance' on events whose process has no topology (single
    top, WW, ...): their loss weight is 0, whatever their segmentation column holds."""
    batch = random_batch(topology("ttH_bb_semileptonic"), 6, seed=20)
    head = SegmentationHead(32, all_topologies())
    out = head(random_encoded(batch, 32, seed=21))
    without = dict(batch, topology=torch.full((6,), -1, dtype=torch.int16))
    assert head.loss(out, without).item() == 0.0
    mixed = dict(batch, topology=batch["topology"].clone())
    mixed["topology"][3:] = -1
    first = {k: v[:3] for k, v in batch.items()}
    out_first = {k: v[:3] for k, v in out.items()}
    assert torch.allclose(head.loss(out, mixed), head.loss(out_first, first))


def test_segmentation_classes_are_types_not_row_order():
    """Guards against classes that depend on a topology's row order: the same event and the
    same outputs score the same loss when its topology lists the resonances in another order
    (the tops of tt̄H are class t, the Higgs class H, in either)."""
    ttH = topology("ttH_bb_semileptonic")
    names = list(ttH["resonances"])
    reordered = dict(
        ttH,
        id=99,
        resonances={n: ttH["resonances"][n] for n in reversed(names)},
        types={n: ttH["types"][n] for n in reversed(names)},
    )
    batch = random_batch(ttH, 8, seed=22)
    head_a = SegmentationHead(32, [ttH])
    head_b = SegmentationHead(32, [reordered])
    assert head_a.types == head_b.types == ["H", "t"]
    out = head_a(random_encoded(batch, 32, seed=23))
    seg = batch["segmentation"].long()
    flipped = torch.where(seg >= 0, len(names) - 1 - seg, seg).to(torch.int8)
    other = dict(batch, segmentation=flipped, topology=torch.full((8,), 99, dtype=torch.int16))
    assert torch.allclose(head_a.loss(out, batch), head_b.loss(out, other))


def test_segmentation_overfits_fixed_events():
    """Guards against a matching or target construction the head cannot fit."""
    torch.manual_seed(0)
    batch = random_batch(topology("ttbar_semileptonic"), 8, seed=16)
    inputs = torch.randn(8, N, 8, generator=torch.Generator().manual_seed(17))
    embed = nn.Linear(8, 32)
    head = SegmentationHead(32, all_topologies())
    optimizer = torch.optim.Adam([*embed.parameters(), *head.parameters()], lr=3e-3)

    def step() -> tuple[torch.Tensor, dict]:
        tokens = embed(inputs)
        out = head(Encoded(tokens, batch["x_mask"], tokens.mean(1)))
        return head.loss(out, batch), out

    first = step()[0].item()
    for _ in range(150):
        optimizer.zero_grad()
        loss = step()[0]
        loss.backward()
        optimizer.step()
    last, out = step()
    print(f"segmentation overfit: {first:.3f} -> {last.item():.3f} (x{first / last.item():.1f})")
    assert first / last.item() >= 3.0


def test_segmentation_perfect_prediction_has_low_loss_and_round_trips():
    """Guards against mis-built targets: an exact (query-shuffled) answer must score ~0 and
    predict back each object's resonance type and which objects share a resonance."""
    ttH = topology("ttH_bb_semileptonic")
    batch = random_batch(ttH, 6, seed=18)
    seg = batch["segmentation"].long()
    head = SegmentationHead(32, [ttH, topology("z_ll")])  # types H, Z, t
    row_class = [head.types.index(ttH["types"][n]) for n in ttH["resonances"]]
    queries, classes = head.rows, head.num_classes
    class_logits = torch.zeros(6, queries, classes + 1)
    mask_logits = torch.full((6, queries, N), -30.0)
    class_logits[..., classes] = 30.0  # no resonance unless a query takes an instance
    gen = torch.Generator().manual_seed(19)
    expected_instance = torch.full_like(seg, -1)
    for b in range(6):
        order = torch.randperm(queries, generator=gen)
        for row, kind in enumerate(row_class):
            q = order[row]
            if (seg[b] == row).any():
                class_logits[b, q, classes], class_logits[b, q, kind] = 0.0, 30.0
                mask_logits[b, q, seg[b] == row] = 30.0
                expected_instance[b, seg[b] == row] = q
    out = {"class_logits": class_logits, "mask_logits": mask_logits}
    assert head.loss(out, batch) < 1e-6
    junk = dict(batch, segmentation=batch["segmentation"].masked_fill(~batch["x_mask"], 1))
    assert torch.equal(head.loss(out, junk), head.loss(out, batch))
    lookup = torch.tensor([*row_class, -1])  # row -1 -> -1
    expected = torch.where(batch["x_mask"] & (seg >= 0), lookup[seg], -1)
    found = head.predict(out)
    assert torch.equal(found["segmentation"], expected)
    assert torch.equal(found["instance"], expected_instance)
    wrong = dict(batch, segmentation=batch["segmentation"].roll(1, dims=1))
    assert head.loss(out, wrong) > 1.0


def test_group_by_topology_slices_each_topologys_events():
    """Guards the single-sync grouping against mixing topologies or dropping events: every
    group's slice of the sorted order holds exactly that topology's events, and events with
    no topology (-1) or an id without a head are in no group."""
    from evenet.model.heads.assignment import group_by_topology

    topology = torch.tensor([3, -1, 0, 3, 7, 0, 3, 5])
    order, groups = group_by_topology(topology, [0, 3, 4, 7])
    assert set(groups) == {0, 3, 7}  # 4 has no events, 5 no head
    for tid, rows in groups.items():
        assert sorted(order[rows].tolist()) == torch.nonzero(topology == tid).flatten().tolist()


def test_decoding_is_exclusive_in_order_of_probability():
    """Guards against issue 13 §2: each resonance took its own argmax, so two resonances could
    share a jet. The most probable resonance chooses first; the other takes its best set of
    the objects left (as SPANet and EveNet decode)."""
    head = AssignmentHead(32, topology("haa_4b"), dim=16)  # two resonances of two daughters
    n = 4
    mask = torch.ones(1, n, dtype=torch.bool)
    low = torch.full((1, n, n), -20.0)
    first, second = low.clone(), low.clone()
    first[0, 0, 1] = first[0, 1, 0] = -0.1  # a1 is sure of (0, 1)
    second[0, 0, 1] = second[0, 1, 0] = -0.5  # a2 prefers (0, 1) too ...
    second[0, 2, 3] = second[0, 3, 2] = -1.0  # ... and (2, 3) next
    out = {"mask": mask, "log_probs": [first, second], "detection": torch.zeros(1, 2)}
    found = head.predict(out)
    assert sorted(found["assignment"][0, 0].tolist()) == [0, 1]
    assert sorted(found["assignment"][0, 1].tolist()) == [2, 3]
    assert found["probability"][0, 1] < found["probability"][0, 0]
    # the order follows the probabilities: swap them and a2 keeps (0, 1)
    out["log_probs"] = [second, first]
    found = head.predict(out)
    assert sorted(found["assignment"][0, 1].tolist()) == [0, 1]
    assert sorted(found["assignment"][0, 0].tolist()) == [2, 3]
    # too few objects for both: the less probable resonance gets none
    out["mask"] = torch.tensor([[True, True, True, False]])
    found = head.predict(out)
    assert found["assignment"][0, 0].tolist() == [-1, -1] and found["probability"][0, 0] == 0


def test_a_resonance_with_broken_truth_is_not_a_detection_target():
    """Guards against issue 13 §7: the detection target was `matched` (every daughter has a
    slot), so a resonance whose daughters share a slot (broken truth, never reconstructable)
    was taught as detected."""
    topo = topology("ttbar_dilepton")  # no resonance symmetry: row r is head r
    head = AssignmentHead(32, topo, dim=16)
    batch = random_batch(topo, 1, seed=0)
    batch["assignment"][0, :2, :2] = torch.tensor([[0, 1], [2, 2]])  # t2 repeats slot 2
    out = head(random_encoded(batch, 32, seed=1))
    losses = {}
    for sign in (+1, -1):  # t2 called detected (+) or not (-); t1 always detected
        out["detection"] = torch.tensor([[20.0, sign * 20.0]])
        losses[sign] = float(head.loss(out, batch).detach())
    assert losses[-1] < losses[+1] - 10  # not detecting t2 is what the target asks
