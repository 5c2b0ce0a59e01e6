import copy

from evenet.report import provenance, scale

from .report_fixture import config_for


def test_fingerprints_change_with_their_section_only(tmp_path):
    config = config_for(tmp_path)
    before = provenance.config_fingerprints(config)
    changed = copy.deepcopy(config)
    changed["analyses"]["qe"]["mtt_max"] = 380.0
    after = provenance.config_fingerprints(changed)
    assert {k for k in before if before[k] != after[k]} == {"analyses.qe"}


def test_seeds_are_found_at_any_depth(tmp_path):
    seeds = provenance.seeds(config_for(tmp_path))
    assert seeds["seed"] == 20261125
    assert seeds["analyses.anomaly.runs.generator.seeds"] == [1]
    assert seeds["analyses.anomaly.weak_supervision.flow.seeds"] == [1]


def test_code_version_outside_a_checkout_says_unknown(tmp_path):
    assert provenance.code_version(tmp_path).startswith("unknown")


def test_environments_list_status_and_pinned_versions(tmp_path):
    (tmp_path / "spanet").mkdir()
    (tmp_path / "spanet" / "status.json").write_text(
        '{"status": "ok", "packages": ["numpy==1.23.5", "spanet==2.1.1", "torch==2.13.0"]}'
    )
    (row,) = provenance.environments(tmp_path)
    assert row["status"] == "ok" and row["packages"] == ["spanet==2.1.1", "torch==2.13.0"]


def test_scale_differences_list_changed_added_and_removed_keys():
    ours = {"output_dir": "a", "generation": {"samples": {"ww": 10}}, "x": [1]}
    full = {"output_dir": "b", "generation": {"samples": {"ww": 1000, "zz": 5}}, "x": [1]}
    assert scale.differences(ours, full) == [
        ("generation.samples.ww", "10", "1000"),
        ("generation.samples.zz", "(absent)", "5"),
    ]
