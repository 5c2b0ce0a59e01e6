"""The analysis contract (evenet/analyses.py): sections validated against each package's
schema, one rules include per enabled analysis."""

from __future__ import annotations

from pathlib import Path

import pytest

from evenet import analyses, paths
from evenet.config import ConfigError, default_config_path, load_config, load_schema

REPO = Path(__file__).resolve().parent.parent


def _load(tmp_path: Path, text: str) -> dict:
    override = tmp_path / "override.yaml"
    override.write_text(text)
    return load_config([default_config_path(), override])


def test_unknown_analysis_key_names_key_file_and_schema(tmp_path):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "analyses: {haa: {runs: {main: {dataset: haa, sizez: [10]}}}}\n")
    message = str(info.value)
    assert "'analyses.haa.runs.main.sizez' is not allowed" in message
    assert str(tmp_path / "override.yaml") in message
    assert "analyses/haa/schema.yaml" in message


def test_unknown_training_override_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"'analyses\.haa\.runs\.main\.training\.stesp'"):
        _load(tmp_path, "analyses: {haa: {runs: {main: {training: {stesp: 5}}}}}\n")


@pytest.mark.parametrize("key, owner", [("seed", "seeds"), ("train_events", "sizes")])
def test_training_keys_owned_by_the_run_are_refused(tmp_path, key, owner):
    with pytest.raises(ConfigError, match=rf"training\.{key}' is not allowed: .*`{owner}`"):
        _load(tmp_path, f"analyses: {{haa: {{runs: {{main: {{training: {{{key}: 3}}}}}}}}}}\n")


def test_run_naming_an_unknown_dataset(tmp_path):
    with pytest.raises(ConfigError, match=r"'analyses\.haa\.runs\.extra\.dataset' names dataset"):
        _load(tmp_path, "analyses: {haa: {runs: {extra: {dataset: nope}}}}\n")


def test_section_without_package(tmp_path):
    with pytest.raises(ConfigError, match=r"'analyses\.nosuch' names no analysis package"):
        _load(tmp_path, "analyses: {nosuch: {}}\n")


def test_defaults_are_filled_in_runs(tmp_path):
    config = _load(tmp_path, "analyses: {haa: {runs: {small: {dataset: haa}}}}\n")
    small = config["analyses"]["haa"]["runs"]["small"]
    assert small["modes"] == ["pretrained"] and small["sizes"] == ["all"]
    assert small["predict"] == {
        "splits": ["test"],
        "neutrino_samples": 0,
        "diffusion_steps": 25,
        "hypotheses": [],
    }
    assert config["analyses"]["haa"]["enabled"] is True


def test_enabled_lists_only_enabled_analyses(tmp_path):
    config = _load(tmp_path, "analyses: {haa: {enabled: false}}\n")
    assert analyses.enabled(config) == ["qe", "anomaly"]
    # haa's runs are gone
    assert {r["analysis"] for r in paths.finetune_runs(config)} == {"qe", "anomaly"}
    assert analyses.enabled(load_config([default_config_path()])) == ["haa", "qe", "anomaly"]


def test_every_analysis_package_follows_the_contract():
    """README, rules, schema (described, defaulted, closed), paths and tests in each package."""
    packages = [p for p in analyses.ANALYSES_DIR.iterdir() if (p / "schema.yaml").exists()]
    assert packages, "no analysis package found"
    for package in packages:
        for name in ("README.md", "rules.smk", "schema.yaml", "paths.py", "__init__.py"):
            assert (package / name).is_file(), f"{package.name} lacks {name}"
        assert (package / "tests" / "__init__.py").is_file()
        assert f"rule {package.name}_all:" in (package / "rules.smk").read_text()
        schema = analyses.load_schema(package.name)
        _check_described(schema, f"analyses.{package.name}")


def _check_described(schema: dict, path: str) -> None:
    assert "description" in schema, f"no description at {path}"
    assert "default" in schema, f"no default at {path}"
    if schema.get("type") == "object" and "properties" in schema:
        assert schema.get("additionalProperties") is False, f"{path}: unknown keys must be refused"
        for key, sub in schema["properties"].items():
            _check_described(sub, f"{path}.{key}")


def test_central_schema_has_no_analysis_keys_of_its_own():
    """Analyses own their sections: the central schema only maps names to objects."""
    central = load_schema()["properties"]["analyses"]
    assert central["additionalProperties"] == {"type": ["object", "null"]}
    assert "runs" not in load_schema()["properties"]["training"]["properties"]


ALLOWED = (
    "evenet.physics",
    "evenet.stats",
    "evenet.paths",
    "evenet.errors",  # EvenetError, the base every error a user sees derives from
    "evenet.config",
    "evenet.io.results",  # atomic writers of tables, text and figures
    "evenet.io.predictions",
    "evenet.io.training_events",  # the events and weights EveNet trains on, for other methods
)


def evenet_imports(path: Path) -> list[str]:
    """The evenet modules a file imports (``from evenet import paths`` -> evenet.paths)."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "evenet"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "evenet":
                found += [f"evenet.{a.name}" for a in node.names]
            elif node.module.startswith("evenet."):
                found.append(node.module)
    return found


def test_analysis_code_imports_only_the_shared_interfaces():
    """Analyses use evenet.physics/stats/paths/config/errors/io.predictions only (tests may use
    more): what two analyses need lives in evenet/, and internals can change under them."""
    offending = []
    for path in analyses.ANALYSES_DIR.rglob("*.py"):
        if "tests" in path.relative_to(analyses.ANALYSES_DIR).parts:
            continue
        for module in evenet_imports(path):
            if not any(module == a or module.startswith(a + ".") for a in ALLOWED):
                offending.append(f"{path.relative_to(REPO)}: {module}")
    assert not offending, offending


def test_the_import_check_can_fail(tmp_path):
    bad = tmp_path / "stage.py"
    bad.write_text("from evenet.train import trainer\nfrom evenet import paths, data\n")
    assert evenet_imports(bad) == ["evenet.train", "evenet.paths", "evenet.data"]
