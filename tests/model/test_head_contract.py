"""Issue 13 §10: heads share one contract and a registry. A toy head defined here, registered
under a new task name, trains through the real trainer and writes its prediction column
through the real `evenet predict` code, with no other edit."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn

from evenet.io.columns import to_numpy
from evenet.io.manifest import load_manifest, write_json_atomic
from evenet.io.stats import write_stats
from evenet.io.topologies import load_topologies
from evenet.model.checkpoint import from_checkpoint
from evenet.model.config import TASKS, ModelConfigError, preset
from evenet.model.heads.contract import Head, register, registered, spec, unregister
from evenet.model.model import EveNet
from evenet.train.options import TrainOptions
from evenet.train.predict import predict
from evenet.train.trainer import train
from tests.shard_factory import write_dataset

TOY = "toy_ht"


class ToyHead(Head):
    """Regresses the normalised first global feature from the event token."""

    def __init__(self, hidden: int):
        super().__init__()
        self.linear = nn.Linear(hidden, 1)

    def training_loss(self, enc, ctx):
        target = ctx.normalizer.globals(ctx.batch["globals"].float())[:, 0]
        return (self.linear(enc.event).squeeze(-1) - target).square().mean()

    def prediction_fields(self, settings):
        return [pa.field("toy_value", pa.float32())]

    def predict_outputs(self, enc, ctx):
        return {"toy_value": self.linear(enc.event).squeeze(-1)}


@pytest.fixture
def toy_registered():
    register(TOY)(lambda ctx: ToyHead(ctx.hidden))
    yield
    unregister(TOY)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("toy_ds")
    manifest_file = write_dataset(folder, 600)
    manifest = load_manifest(manifest_file)
    manifest["topologies"] = load_topologies().summary()
    write_json_atomic(manifest_file, manifest)
    write_stats(folder)
    return folder


def test_builtin_heads_are_registered_in_task_order():
    """Guards the registry against losing a head or reordering the random draws."""
    assert registered() == TASKS
    assert spec("masked_generation").reads_noised and not spec("classification").reads_noised
    assert {t for t in TASKS if spec(t).needs_truth} == {
        "assignment",
        "segmentation",
        "neutrino_generation",
    }


def test_unknown_task_names_the_registered_ones():
    with pytest.raises(ModelConfigError, match=r"unknown task\(s\) \['toy_ht'\].*classification"):
        preset("tiny", tasks=("classification", TOY)).validate()


def test_a_registered_toy_head_trains_and_predicts(toy_registered, dataset, tmp_path):
    """Guards the contract: the model, the trainer (loss, loader columns, checkpoint) and
    prediction (schema, values) all reach the toy head through the registry alone."""
    with pytest.raises(ValueError, match="already registered"):
        register(TOY)(lambda ctx: ToyHead(ctx.hidden))
    options = TrainOptions(
        steps=2,
        tasks=("classification", TOY),
        batch_size=32,
        num_workers=0,
        warmup_steps=1,
        log_every=1,
        eval_every=0,
        checkpoint_every=2,
    )
    summary = train(dataset, tmp_path / "run", options, log=lambda _: None)
    metrics = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert f"loss_{TOY}" in metrics[0] and len(metrics) == 3  # header + 2 steps
    model, payload = from_checkpoint(summary["model"], manifest=load_manifest(dataset))
    assert isinstance(model.heads[TOY], ToyHead)
    torch.manual_seed(options.seed)  # the trainer's initial weights
    initial = EveNet(model.config, payload["stats"], model.topologies)
    assert not torch.equal(initial.heads[TOY].linear.weight, model.heads[TOY].linear.weight)

    output = tmp_path / "p.parquet"
    predict(summary["model"], dataset, output, batch_size=64, log=lambda _: None)
    table = pq.read_table(output)
    assert "toy_value" in table.column_names and "scores" in table.column_names
    values = to_numpy(table["toy_value"])
    assert values.dtype.name == "float32" and len(values) == table.num_rows > 0
    assert values.std() > 0  # one value per event, not a constant
