"""Training options: one set of defaults, validated keys, and the command line."""

from __future__ import annotations

import pytest

from evenet.config import load_schema
from evenet.model.errors import ModelConfigError
from evenet.train.options import TrainOptions


def test_schema_defaults_equal_the_dataclass_defaults():
    """Guards against defaults defined twice (schema and dataclass) drifting apart."""
    schema = load_schema()["properties"]["training"]["properties"]["pretrain"]["properties"]
    defaults = TrainOptions().to_dict()
    assert set(schema) == set(defaults)
    for key, spec in schema.items():
        assert spec["default"] == defaults[key], key


def test_unknown_keys_and_untrained_loss_weights_are_refused():
    """Guards against a mistyped option being silently ignored."""
    with pytest.raises(ModelConfigError, match="unknown training key"):
        TrainOptions.from_dict({"learning_rate": 1e-3})
    with pytest.raises(ModelConfigError, match="not trained"):
        TrainOptions.from_dict({"loss_weights": {"regression": 2.0}})


def test_compile_options_are_checked():
    """Guards against a quoted "false" (truthy) switching compilation on, or a mistyped mode
    reaching torch.compile only after the dataset is loaded."""
    with pytest.raises(ModelConfigError, match="compile must be true or false"):
        TrainOptions.from_dict({"compile": "false"})
    with pytest.raises(ModelConfigError, match="compile_mode 'reduce_overhead'"):
        TrainOptions.from_dict({"compile_mode": "reduce_overhead"})
    assert TrainOptions.from_dict({"compile_mode": "reduce-overhead"}).compile_mode == (
        "reduce-overhead"
    )


def test_pretrain_cli_reports_a_missing_dataset_in_one_line(tmp_path, capsys):
    """Guards against a traceback when the dataset folder is wrong."""
    from evenet.cli import main

    code = main(["pretrain", "--dataset", str(tmp_path / "nope"), "--output", str(tmp_path / "r")])
    assert code == 2
    assert "nope" in capsys.readouterr().err


def test_finetune_schema_has_the_pretrain_keys():
    """Guards against an option added to pretraining but not accepted by fine-tuning."""
    training = load_schema()["properties"]["training"]["properties"]
    assert set(training["finetune"]["properties"]) == set(TrainOptions().to_dict())
