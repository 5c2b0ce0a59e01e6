"""Training options: one set of defaults, validated keys, and the command line."""

from __future__ import annotations

import pytest

from evenet.config import load_schema
from evenet.model.errors import ModelConfigError
from evenet.train.options import TrainOptions


def test_training_defaults_have_one_owner():
    """Guards against defaults defined twice (schema, dataclass, config.yaml) drifting apart:
    the YAML files hold no training default; the loaded schema takes them from the dataclass
    (pretraining) and FINETUNE_DEFAULTS (fine-tuning)."""
    import yaml

    from evenet.config import default_config_path, schema_path
    from evenet.train.options import FINETUNE_DEFAULTS

    raw = yaml.safe_load(schema_path().read_text())
    assert all(
        "default" not in spec for spec in raw["$defs"]["training_options"]["properties"].values()
    )
    assert "pretrain" not in (yaml.safe_load(default_config_path().read_text())["training"])
    training = load_schema()["properties"]["training"]["properties"]
    pretrain = {k: v["default"] for k, v in training["pretrain"]["properties"].items()}
    finetune = {k: v["default"] for k, v in training["finetune"]["properties"].items()}
    assert pretrain == TrainOptions().to_dict()
    assert {k for k in pretrain if pretrain[k] != finetune[k]} == set(FINETUNE_DEFAULTS)


def test_unknown_keys_and_untrained_loss_weights_are_refused():
    """Guards against a mistyped option being silently ignored."""
    with pytest.raises(ModelConfigError, match="unknown training key"):
        TrainOptions.from_dict({"learning_rate": 1e-3})
    with pytest.raises(ModelConfigError, match="not trained"):
        TrainOptions.from_dict({"loss_weights": {"global_generation": 2.0}})


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
