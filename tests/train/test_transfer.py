"""Fine-tuning weight transfer: by name and shape, topology- and class-map-aware, freezing."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from evenet.io.topologies import load_topologies
from evenet.model.checkpoint import checkpoint_payload, load_checkpoint, save_checkpoint
from evenet.model.config import preset
from evenet.model.errors import CheckpointError, ModelConfigError
from evenet.model.model import EveNet
from evenet.model.normalize import neutral_stats
from evenet.model.synthetic import synthetic_batch
from evenet.train.transfer import freeze, load_pretrained, param_groups

TOPOLOGIES = load_topologies().summary()
CLASS_MAP = {"10": 0, "11": 1, "12": 2}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny pretrained model with non-trivial stats, saved and read back as a payload."""
    torch.manual_seed(1)
    stats = neutral_stats()
    stats["x"]["mean"][0] = 4.5
    stats["globals"]["std"][0] = 2.0
    model = EveNet(preset("tiny", num_classes=3), stats, TOPOLOGIES)
    payload = checkpoint_payload(model, stats=stats, class_map=CLASS_MAP)
    path = save_checkpoint(tmp_path_factory.mktemp("pretrained") / "model.pt", payload)
    return model.state_dict(), load_checkpoint(path)


def _fresh(stats: dict, topologies=TOPOLOGIES, seed: int = 2, **overrides) -> EveNet:
    torch.manual_seed(seed)
    config = preset("tiny", num_classes=3)
    return EveNet(replace(config, **overrides), stats, topologies)


def _equal(model: EveNet, old: dict, prefix: str) -> bool:
    new = {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}
    assert new, f"no tensor under {prefix}"
    return all(torch.equal(v, old[k]) for k, v in new.items())


def _differs(model: EveNet, old: dict, prefix: str) -> bool:
    new = {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}
    assert new, f"no tensor under {prefix}"
    # Matrices only: LayerNorm weights start at one and biases at zero in every model.
    return all(not torch.equal(v, old[k]) for k, v in new.items() if v.ndim > 1)


def test_body_loaded_and_reported(pretrained):
    """Guards against a body that is not copied, or a report that does not say it was."""
    old, payload = pretrained
    model = _fresh(payload["stats"])
    assert not _equal(model, old, "body.")
    report = load_pretrained(model, payload)
    assert _equal(model, old, "body.") and _equal(model, old, "normalizer.")
    body = {k for k in old if k.startswith(("body.", "normalizer."))}
    assert set(report.loaded) == body
    assert not any(n.startswith(("body.", "normalizer.")) for n in report.initialised)


def test_checkpoint_stats_survive_a_model_built_with_other_stats(pretrained):
    """Guards against the body seeing inputs normalised differently from pretraining."""
    old, payload = pretrained
    model = _fresh(neutral_stats())  # the caller forgot payload["stats"]
    load_pretrained(model, payload)
    assert float(model.normalizer._objects.mean[0]) == 4.5
    assert _equal(model, old, "normalizer.")


def test_heads_not_loaded_unless_requested(pretrained):
    """Guards against heads=False silently carrying pretrained heads into a fine-tune."""
    old, payload = pretrained
    model = _fresh(payload["stats"])
    report = load_pretrained(model, payload, heads=False, class_map=CLASS_MAP)
    assert _differs(model, old, "heads.")
    reasons = report.skipped_names()
    assert reasons["heads.segmentation.queries"] == "heads not requested"
    assert "heads.segmentation.queries" in report.initialised


def test_only_the_named_heads_are_loaded(pretrained):
    """Guards against a run's `load_heads: [assignment]` also carrying other heads over."""
    old, payload = pretrained
    model = _fresh(payload["stats"])
    report = load_pretrained(model, payload, heads=["assignment"], class_map=CLASS_MAP)
    assert _equal(model, old, "heads.assignment.")
    assert _differs(model, old, "heads.segmentation.")
    assert report.skipped_names()["heads.segmentation.queries"] == "heads not requested"


def test_assignment_heads_matched_by_topology_name(pretrained):
    """Guards against a same-shaped assignment head of another topology being loaded."""
    old, payload = pretrained
    renamed = [dict(t, name="z_ll_v2") if t["name"] == "z_ll" else t for t in TOPOLOGIES]
    model = _fresh(payload["stats"], renamed)
    report = load_pretrained(model, payload, heads=True, class_map=CLASS_MAP)
    reasons = report.skipped_names()
    z_ll = [k for k in old if k.startswith("heads.assignment.z_ll.")]
    assert z_ll and all(reasons[k] == "other topology" for k in z_ll)
    assert _differs(model, old | _renamed(old, "z_ll", "z_ll_v2"), "heads.assignment.z_ll_v2.")
    assert all(n in report.initialised for n in _renamed(old, "z_ll", "z_ll_v2"))
    # Heads of topologies present in both (upsilon_mumu has z_ll's shapes) are loaded.
    assert _equal(model, old, "heads.assignment.upsilon_mumu.")


def _renamed(state: dict, name: str, new: str) -> dict:
    prefix = f"heads.assignment.{name}."
    return {
        f"heads.assignment.{new}.{k[len(prefix) :]}": v
        for k, v in state.items()
        if k.startswith(prefix)
    }


def test_missing_topology_head_reported_skipped(pretrained):
    """Guards against a dropped topology's head vanishing from the report."""
    _, payload = pretrained
    model = _fresh(payload["stats"], [t for t in TOPOLOGIES if t["name"] != "haa_4b"])
    report = load_pretrained(model, payload, heads=True, class_map=CLASS_MAP)
    skipped = [n for n, r in report.skipped if r == "other topology"]
    assert skipped and all(n.startswith("heads.assignment.haa_4b.") for n in skipped)
    assert "heads.assignment.haa_4b" in report.format()


def test_classification_head_needs_identical_class_map(pretrained):
    """Guards against class indices of another task silently reusing pretrained logits."""
    old, payload = pretrained
    same = _fresh(payload["stats"])
    load_pretrained(same, payload, heads=True, class_map=dict(CLASS_MAP))
    assert _equal(same, old, "heads.classification.")
    for other in ({"10": 0, "11": 1, "13": 2}, {"10": 1, "11": 0, "12": 2}, None):
        model = _fresh(payload["stats"])
        report = load_pretrained(model, payload, heads=True, class_map=other)
        assert _differs(model, old, "heads.classification.")
        assert report.skipped_names()["heads.classification.net.5.weight"] == "class map differs"
        assert _equal(model, old, "heads.segmentation.")  # other heads still load


def test_shape_mismatch_skipped_with_shapes(pretrained):
    """Guards against a load that crashes, or copies into, a tensor of another shape."""
    old, payload = pretrained
    config = preset("tiny", num_classes=3)
    torch.manual_seed(3)
    body = replace(config.body, mlp_ratio=2.0)
    model = EveNet(replace(config, body=body), payload["stats"], TOPOLOGIES)
    report = load_pretrained(model, payload)
    name = "body.blocks.0.ffn.0.weight"
    assert report.skipped_names()[name] == "shape (256, 64) vs (128, 64)"
    assert name in report.initialised
    assert torch.equal(
        model.state_dict()["body.blocks.0.qkv.weight"], old["body.blocks.0.qkv.weight"]
    )


def test_wrong_checkpoint_raises(pretrained):
    """Guards against fine-tuning on a checkpoint of another width or with no usable body."""
    _, payload = pretrained
    config = preset("tiny", num_classes=3)
    narrow_config = replace(config, body=replace(config.body, hidden=32))
    narrow = EveNet(narrow_config, payload["stats"], TOPOLOGIES)
    with pytest.raises(CheckpointError, match=r"hidden=64.*hidden=32"):
        load_pretrained(narrow, payload)
    foreign = dict(payload, state_dict={f"module.{k}": v for k, v in payload["state_dict"].items()})
    with pytest.raises(CheckpointError, match="no body tensor"):
        load_pretrained(_fresh(payload["stats"]), foreign)


def test_frozen_body_stays_unchanged_while_heads_train(pretrained):
    """Guards against a freeze that is not applied or frozen parameters left in the optimiser."""
    _, payload = pretrained
    model = _fresh(payload["stats"])
    load_pretrained(model, payload)
    frozen = freeze(model, "body")
    assert frozen and all(n.startswith("body.") for n in frozen)
    groups = param_groups(model, lr=1e-2, body_lr_factor=0.1, weight_decay=0.05)
    in_groups = {id(p) for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert not in_groups & {id(named[n]) for n in frozen}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimiser = torch.optim.AdamW(groups)
    batch = synthetic_batch(16, TOPOLOGIES, 3, seed=4)
    model.train()
    for _ in range(3):
        optimiser.zero_grad()
        model.losses(batch, tasks=("classification",))["classification"].backward()
        optimiser.step()
    after = model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before if k.startswith("body."))
    changed = [k for k in before if k.startswith("heads.classification.")]
    assert all(not torch.equal(after[k], before[k]) for k in changed)


def test_freeze_body_except_last_blocks(pretrained):
    """Guards against the kept blocks being frozen too (or the earlier ones left trainable)."""
    _, payload = pretrained
    model = _fresh(payload["stats"])
    frozen = set(freeze(model, "body_except_last:1"))
    last = len(model.body.blocks) - 1
    for name, param in model.named_parameters():
        kept = name.startswith((f"body.blocks.{last}.", "body.norm.", "heads."))
        assert param.requires_grad == kept, name
        assert (name in frozen) == (not kept), name
    assert freeze(_fresh(payload["stats"]), "none") == []
    for bad in ("body_except_last:9", "body_except_last:x", "heads"):
        with pytest.raises(ModelConfigError):
            freeze(_fresh(payload["stats"]), bad)


def test_param_groups_learning_rates_and_decay(pretrained):
    """Guards against the body multiplier being ignored or decay applied to norms and biases."""
    _, payload = pretrained
    model = _fresh(payload["stats"])
    groups = {g["name"]: g for g in param_groups(model, 1e-3, 0.1, 0.05)}
    assert groups["body"]["lr"] == pytest.approx(1e-4)
    assert groups["body_no_decay"]["lr"] == pytest.approx(1e-4)
    assert groups["heads"]["lr"] == groups["heads_no_decay"]["lr"] == 1e-3
    assert groups["body"]["weight_decay"] == 0.05
    for name in ("body_no_decay", "heads_no_decay"):
        assert groups[name]["weight_decay"] == 0.0
        assert all(p.ndim == 1 for p in groups[name]["params"])
    gammas = {id(model.body.blocks[0].scale1.gamma), id(model.body.norm.weight)}
    assert gammas <= {id(p) for p in groups["body_no_decay"]["params"]}
    every = [id(p) for g in groups.values() for p in g["params"]]
    assert sorted(every) == sorted(id(p) for p in model.parameters())


def test_report_format_counts_per_module(pretrained):
    """Guards against a report that hides what was loaded, initialised or skipped, and why."""
    old, payload = pretrained
    model = _fresh(payload["stats"])
    text = load_pretrained(model, payload, heads=True, class_map={"10": 0, "11": 1}).format()
    body = sum(k.startswith("body.") for k in old)
    row = next(line for line in text.splitlines() if line.startswith("body "))
    assert row.split()[1:] == [str(body), "0", "0"]
    assert "heads.classification (8 tensors): class map differs" in text
