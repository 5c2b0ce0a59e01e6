"""EveNet assembled: every head's loss on one batch, overfitting, presets and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from evenet.cli import main
from evenet.io.topologies import load_topologies
from evenet.model.config import TASKS, ModelConfigError, preset
from evenet.model.model import EveNet
from evenet.model.normalize import neutral_stats
from evenet.model.summary import build_for_summary
from evenet.model.synthetic import synthetic_batch

TOPOLOGIES = load_topologies().summary()


def _model(tasks=TASKS, topologies=TOPOLOGIES, num_classes=4, **heads) -> EveNet:
    torch.manual_seed(0)
    config = preset("tiny", num_classes=num_classes, tasks=tuple(tasks))
    if heads:
        config = replace(config, heads=replace(config.heads, **heads))
    return EveNet(config, neutral_stats(), topologies)


def test_every_head_gives_a_finite_loss_and_gradients():
    """Guards against a head that never trains (EveNet's regression head ran under no_grad)."""
    model = _model(TASKS, global_condition=("M_leptons",))
    batch = synthetic_batch(32, TOPOLOGIES, 4, seed=1)
    terms = model.losses(batch)
    assert set(terms) == set(TASKS)
    for name, value in terms.items():
        assert value.dim() == 0 and torch.isfinite(value), name
    sum(terms.values()).backward()
    for name, head in model.heads.items():
        grads = [p.grad for p in head.parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), f"{name} gets no gradient"


def test_pretraining_step_encodes_clean_and_noised_copies_in_one_body_call():
    """Guards against running the body once per head (the public code runs it up to 3 times)."""
    model = _model()
    batch = synthetic_batch(16, TOPOLOGIES, 4, seed=2)
    calls = []
    model.body.register_forward_hook(lambda m, args, kwargs_out: calls.append(1))
    model.losses(batch)
    assert len(calls) == 1


def test_head_outputs_have_the_documented_shapes():
    """Guards against heads whose outputs drift from what prediction and analyses read."""
    model = _model().eval()
    batch = synthetic_batch(8, TOPOLOGIES, 4, seed=3)
    enc = model.encode(batch)
    assert enc.tokens.shape == (8, 18, 64) and enc.event.shape == (8, 64)
    assert model.heads["classification"](enc)["logits"].shape == (8, 4)
    seg = model.heads["segmentation"](enc)
    assert seg["mask_logits"].shape[-1] == 18
    haa = model.heads["assignment"]["haa_4b"](enc)
    assert [tuple(p.shape) for p in haa["log_probs"]] == [(8, 18, 18)] * 2
    assert haa["detection"].shape == (8, 2)
    samples = model.heads["neutrino_generation"].sample(enc, steps=4, n_samples=3)
    assert samples.shape == (8, 3, 2, 4)


def test_global_sampling_encodes_each_denoising_state_as_training_does():
    """Guards issue 16's mismatch: sampling held the clean encoding fixed while training
    encodes the noised globals. Every step must run the body on the current state, with the
    condition column clean and the step's noise level."""
    model = _model(("global_generation",), global_condition=("M_leptons",)).eval()
    batch = synthetic_batch(6, TOPOLOGIES, 4, seed=4)
    seen = []

    def record(module, args, kwargs):
        seen.append((kwargs["globals"].clone(), kwargs["global_logsnr"].clone()))

    model.body.register_forward_pre_hook(record, with_kwargs=True)
    steps = 4
    out = model.sample_globals(batch, steps=steps, generator=torch.Generator().manual_seed(3))
    clean = model.inputs(batch)["globals"]
    head = model.heads["global_generation"]
    condition = ~head.generated
    assert len(seen) == steps  # one body call per denoising step
    for (globals_in, logsnr), previous in zip(seen[1:], seen[:-1], strict=True):
        assert not torch.equal(globals_in[:, head.generated], previous[0][:, head.generated])
        assert (logsnr > previous[1]).all()  # noise falls along the sampling grid
    for globals_in, _ in seen:
        torch.testing.assert_close(globals_in[:, condition], clean[:, condition])
    torch.testing.assert_close(out[:, condition], clean[:, condition])
    assert torch.isfinite(out).all()


def test_global_generation_sees_only_its_conditions_in_its_own_copy():
    """Guards issue 16's leak: while generating HT_lep given M_leptons, the body saw the
    leptons and every other global. Its copy must hide the objects and all globals but the
    condition and the noised generated one, and the other heads keep their copies."""
    from evenet.model.normalize import GLOBAL_INPUTS

    tasks = ("classification", "masked_generation", "global_generation")
    model = _model(tasks, global_condition=("M_leptons",), global_generate=("HT_lep",))
    batch = synthetic_batch(5, TOPOLOGIES, 4, seed=6)
    seen = []
    model.body.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs), with_kwargs=True
    )
    terms = model.losses(batch, tasks=tasks)
    assert set(terms) == set(tasks) and all(torch.isfinite(v) for v in terms.values())
    (inputs,) = seen  # one body call, three copies of 5 events
    assert inputs["mask"].shape[0] == 15
    clean = model.inputs(batch)
    own = {k: v[10:] for k, v in inputs.items()}
    assert not own["mask"].any() and (own["objects"] == 0).all()
    condition, generated = GLOBAL_INPUTS.index("M_leptons"), GLOBAL_INPUTS.index("HT_lep")
    torch.testing.assert_close(own["globals"][:, condition], clean["globals"][:, condition])
    assert not torch.allclose(own["globals"][:, generated], clean["globals"][:, generated])
    hidden = [i for i in range(len(GLOBAL_INPUTS)) if i not in (condition, generated)]
    assert (own["globals"][:, hidden] == 0).all()
    torch.testing.assert_close(inputs["mask"][:5], clean["mask"])  # the clean copy is intact
    with pytest.raises(ModelConfigError, match="both generated and a condition"):
        _model(("global_generation",), global_condition=("HT",), global_generate=("HT",))
    with pytest.raises(ModelConfigError, match="unknown generated global"):
        _model(("global_generation",), global_generate=("pT_mumu",))


def test_x_extra_inputs_start_neutral_then_count_and_are_checked():
    """Guards issue 16's x_extra inputs: a pretrained body gains them without changing what
    it computes (zero-initialised projection), they then reach the encoding (real slots only),
    a batch without them is refused, and a dataset with other extra names is refused."""
    from evenet.model.checkpoint import check_compatible, checkpoint_payload
    from evenet.model.errors import CheckpointError

    stats = neutral_stats()
    stats["x_extra"] = {"features": ["iso", "ip3d"], "mean": [1.0, 0.5], "std": [2.0, 0.1]}
    torch.manual_seed(0)
    config = preset("tiny", num_classes=4, tasks=("classification",))
    plain = EveNet(config, neutral_stats(), TOPOLOGIES).eval()
    extra = EveNet(replace(config, x_extra=("iso", "ip3d")), stats, TOPOLOGIES).eval()
    missing = extra.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith(("body.extra_embed", "normalizer._extra")) for k in missing)
    batch = synthetic_batch(6, TOPOLOGIES, 4, seed=5)
    batch["x_extra"] = torch.rand(6, 18, 2)
    with torch.no_grad():
        torch.testing.assert_close(extra.encode(batch).event, plain.encode(batch).event)
        torch.nn.init.normal_(extra.body.extra_embed.weight)
        before = extra.encode(batch).event
        padded = batch["x_mask"] == 0
        batch["x_extra"][padded] += 5.0  # padded slots carry nothing
        torch.testing.assert_close(extra.encode(batch).event, before)
        batch["x_extra"][~padded] += 5.0
        assert not torch.allclose(extra.encode(batch).event, before)
    with pytest.raises(ModelConfigError, match="no x_extra column"):
        extra.inputs({k: v for k, v in batch.items() if k != "x_extra"})
    from evenet.train.transfer import freeze

    frozen = freeze(extra, "body")  # the new projection was never pretrained: it trains
    assert frozen and not any(name.startswith("body.extra_embed") for name in frozen)
    assert extra.body.extra_embed.weight.requires_grad
    payload = checkpoint_payload(extra, stats=stats)
    assert payload["features"]["x_extra"] == ["iso", "ip3d"]
    manifest = {"schema_version": payload["schema_version"], "columns": [], "x_extra": ["iso"]}
    manifest["columns"] = [
        {"name": group, "features": names}
        for group, names in payload["features"].items()
        if group != "x_extra"
    ]
    with pytest.raises(CheckpointError, match="x_extra"):
        check_compatible(payload, manifest)
    check_compatible(payload, {**manifest, "x_extra": ["iso", "ip3d"]})


def test_globals_extra_inputs_and_their_generation():
    """Guards issue 16's dimuon use: generate (pT_ll, dR_ll) given M_ll, all globals_extra.
    The body gains them without changing what it computes, the head's copy shows M_ll alone
    (clean) and the noised generated pair, and sampling keeps M_ll."""
    stats = neutral_stats()
    names = ("M_ll", "pT_ll", "dR_ll")
    stats["globals_extra"] = {"features": list(names), "mean": [10.0, 5.0, 1.0], "std": [3.0] * 3}
    torch.manual_seed(0)
    base = preset("tiny", num_classes=4, tasks=("global_generation",))
    heads = replace(base.heads, global_generate=("pT_ll", "dR_ll"), global_condition=("M_ll",))
    plain = EveNet(base, neutral_stats(), TOPOLOGIES).eval()
    model = EveNet(replace(base, heads=heads, globals_extra=names), stats, TOPOLOGIES).eval()
    batch = synthetic_batch(6, TOPOLOGIES, 4, seed=7)
    batch["globals_extra"] = torch.rand(6, 3) * 10
    body_only = {k: v for k, v in plain.state_dict().items() if k.startswith("body.")}
    model.load_state_dict(body_only, strict=False)
    with torch.no_grad():  # zero-initialised projection: the pretrained body is unchanged
        torch.testing.assert_close(model.encode(batch).event, plain.encode(batch).event)
    seen = []
    model.body.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs), with_kwargs=True
    )
    out = model.sample_globals(batch, steps=3, generator=torch.Generator().manual_seed(2))
    clean = model.inputs(batch)
    assert out.shape == (6, 11 + 3)
    torch.testing.assert_close(out[:, 11], clean["globals_extra"][:, 0])  # M_ll given
    for inputs in seen:
        assert (inputs["globals"] == 0).all() and not inputs["mask"].any()
        torch.testing.assert_close(inputs["globals_extra"][:, 0], clean["globals_extra"][:, 0])
    assert not torch.equal(seen[0]["globals_extra"][:, 1:], seen[-1]["globals_extra"][:, 1:])
    model.train()
    terms = model.losses({**batch, "train_weight": torch.ones(6)})
    assert torch.isfinite(terms["global_generation"])


def _overfit(model, batch, tasks, steps):
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(steps):
        loss = sum(model.losses(batch, tasks=tasks).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = float(loss.detach()) if first is None else first
    model.eval()
    with torch.no_grad():
        final = float(sum(model.losses(batch, tasks=tasks).values()))
    return first, final


def test_tiny_overfits_64_events_classification_and_assignment():
    """Guards against a model that cannot learn: the loss on 64 fixed events must fall >= 10x."""
    topologies = [t for t in TOPOLOGIES if t["name"] in ("ttbar_dilepton", "haa_4b")]
    model = _model(("classification", "assignment"), topologies)
    model.feature_drop = 0.0
    batch = synthetic_batch(64, topologies, 4, seed=4)
    first, final = _overfit(model, batch, ("classification", "assignment"), 150)
    assert final < first / 10, (first, final)


def test_unknown_task_and_bad_widths_are_refused():
    """Guards against silently building a model without the requested head."""
    with pytest.raises(ModelConfigError, match="unknown task"):
        preset("tiny", tasks=("classification", "clasification"))
    with pytest.raises(ModelConfigError, match="unknown preset"):
        preset("huge")
    with pytest.raises(ModelConfigError, match="not divisible"):
        replace(preset("tiny"), body=replace(preset("tiny").body, heads=5)).validate()


def test_model_cli_reports_parameters_per_preset(capsys):
    """Guards against the tiny preset outgrowing CPU tests (< 3M parameters in total)."""
    assert main(["model", "--preset", "tiny", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["params_total"] == table["params_body"] + table["params_heads"]
    assert 0 < table["params_total"] < 3_000_000
    assert main(["model", "--preset", "lite", "--summary"]) == 0
    assert "transformer_blocks" in capsys.readouterr().out
    assert main(["model", "--preset", "nope"]) == 2


def test_every_loss_weights_events_by_their_training_weight():
    """Guards the pretraining mix reaching every head, not just classification: with the
    training weights of some events set to zero, the deterministic losses equal those of the
    batch without them, and a negative weight sum cannot blow a loss up."""
    from evenet.model.synthetic import synthetic_batch

    torch.manual_seed(0)
    model = build_for_summary("tiny").eval()
    batch = synthetic_batch(12, model.topologies, model.config.num_classes, seed=3)
    tasks = ("classification", "assignment", "segmentation")
    keep = torch.arange(12) % 3 != 0
    weighted = dict(batch, train_weight=keep.float() * 2.5)
    subset = {k: v[keep] for k, v in batch.items()}
    with torch.no_grad():
        full = model.losses(weighted, tasks=tasks)
        reduced = model.losses(subset, tasks=tasks)
        for task in tasks:
            torch.testing.assert_close(full[task], reduced[task], rtol=1e-5, atol=1e-6)
        signed = dict(batch, train_weight=torch.linspace(-2.0, 1.0, 12))  # sums to -3
        every = model.losses(signed, mask_fraction=0.5, generator=torch.Generator().manual_seed(1))
    assert all(bool(torch.isfinite(v)) and abs(float(v)) < 1e3 for v in every.values()), every


def test_feature_drop_hides_whole_objects_of_the_clean_copy_only():
    """Guards against issue 13 §5: element-wise dropout with rescaling hit every copy, the
    diffused inputs of masked generation included."""
    topologies = [t for t in TOPOLOGIES if t["name"] == "ttbar_dilepton"]
    model = _model(("classification", "masked_generation"), topologies)
    batch = synthetic_batch(16, topologies, 4, seed=3)
    seen = []
    forward = model.body.forward

    def recording(**inputs):
        seen.append(inputs["objects"].detach().clone())
        return forward(**inputs)

    model.body.forward = recording
    model.train()
    for drop in (1.0, 0.0):
        model.feature_drop = drop
        model.losses(batch, generator=torch.Generator().manual_seed(0), mask_fraction=0.5)
    dropped, kept = seen
    b = 16
    assert (dropped[:b] == 0).all() and (kept[:b] != 0).any()  # clean copy: whole objects
    torch.testing.assert_close(dropped[b:], kept[b:])  # the noised copy is untouched
    model.eval()
    model.feature_drop = 1.0
    model.losses(batch, generator=torch.Generator().manual_seed(0))
    assert (seen[-1][:b] != 0).any()  # no augmentation outside training


def test_stage_one_encodes_only_the_noised_copy():
    """Guards against issue 13 §7: stage 1 (masked generation alone) also encoded a clean copy
    that no stage-1 loss reads, twice the body cost."""
    topologies = [t for t in TOPOLOGIES if t["name"] == "ttbar_dilepton"]
    model = _model(("classification", "masked_generation"), topologies)
    batch = synthetic_batch(8, topologies, 4, seed=5)
    sizes = []
    forward = model.body.forward
    model.body.forward = lambda **inputs: (sizes.append(len(inputs["objects"])), forward(**inputs))[
        1
    ]
    model.losses(batch, tasks=("masked_generation",), generator=torch.Generator().manual_seed(0))
    model.losses(batch, tasks=("classification",))
    terms = model.losses(batch, generator=torch.Generator().manual_seed(0))
    assert sizes == [8, 8, 16]
    assert set(terms) == {"classification", "masked_generation"}


def test_the_regression_head_is_gone():
    """Issue 13 §6: a head no config could enable and no analysis needs is not kept."""
    assert "regression" not in TASKS
    with pytest.raises(ModelConfigError, match="unknown task"):
        preset("tiny", tasks=("classification", "regression"))
