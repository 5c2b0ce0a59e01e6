"""What a config change reruns, and which rule files are included, through the Snakemake
Python API.

The ci workflow is laid out once with empty files and Snakemake's touch executor, which
records each job's params (its resolved options) as a real run would. Each case then
dry-runs with one more config file and reads the scheduled jobs from the outputs Snakemake
would update. Guards against jobs that depend on which files supplied a value (a no-op
override rescheduled all 22 jobs) and against options that miss a value a job uses.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from snakemake.api import SnakemakeApi
from snakemake.settings.types import (
    ConfigSettings,
    DAGSettings,
    OutputSettings,
    Quietness,
    ResourceSettings,
)

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def _workflow(tmp: Path, extra: list[Path], dryrun: bool = True):
    """The ci workflow through the API, writing into ``tmp`` (the API changes the working
    directory; it is restored afterwards)."""
    cwd = os.getcwd()
    try:
        with SnakemakeApi(OutputSettings(quiet={Quietness.ALL}, dryrun=dryrun)) as api:
            yield api.workflow(
                resource_settings=ResourceSettings(cores=1),
                config_settings=ConfigSettings(
                    configfiles=[REPO / "config" / "ci.yaml", tmp / "out.yaml", *extra]
                ),
                snakefile=REPO / "Snakefile",
                workdir=tmp / "work",
            )
    finally:
        os.chdir(cwd)


def _run(tmp: Path, extra: list[Path], executor: str) -> list[Path]:
    """Outputs of the jobs Snakemake schedules (dryrun) or touches (touch: every job, so that
    every job's params are recorded)."""
    updated: list[str] = []
    with _workflow(tmp, extra, dryrun=executor == "dryrun") as workflow:
        workflow.dag(DAGSettings(forceall=executor == "touch")).execute_workflow(
            executor="local", pseudo_executor=executor, updated_files=updated
        )
    return [Path(f) if os.path.isabs(f) else tmp / "work" / f for f in updated]


def _jobs(outputs: list[Path], root: Path) -> set[str]:
    """A readable name per scheduled job, from its output paths below ``root``."""
    names = set()
    for path in outputs:
        parts = path.relative_to(root).parts
        if parts[0] in ("training", "predictions") and parts[1] != "pretrain":
            kind = "finetune" if parts[0] == "training" else "predict"
            names.add(f"{kind} {'/'.join(parts[2:7] if kind == 'finetune' else parts[1:6])}")
        elif parts[0] == "training":
            names.add("pretrain")
        elif parts[0] == "report":
            names.add("report")
        else:
            names.add(f"{parts[0]} {parts[-2] if parts[0] != 'datasets' else parts[1]}")
    return names


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """The ci workflow with every output present and its params recorded."""
    tmp = tmp_path_factory.mktemp("reruns")
    (tmp / "work").mkdir()
    (tmp / "out.yaml").write_text(f"output_dir: {tmp / 'out'}\n")
    for path in _run(tmp, [], "dryrun"):
        if path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:  # directory() outputs (converted samples)
            path.mkdir(parents=True, exist_ok=True)
    assert _run(tmp, [], "touch"), "the touch run recorded no job"

    def scheduled(text: str | None) -> set[str]:
        extra = []
        if text is not None:
            extra = [tmp / f"change{len(list(tmp.glob('change*')))}.yaml"]
            extra[0].write_text(text)
        jobs = _jobs(_run(tmp, extra, "dryrun"), tmp / "out")
        # the report shows every result and the whole config: it is rewritten whenever
        # anything changes, and only then
        assert ("report" in jobs) == bool(jobs), jobs
        return jobs - {"report"}

    return scheduled


def test_nothing_to_do_once_everything_exists(workflow):
    assert workflow(None) == set()


def test_a_config_file_that_changes_nothing_schedules_nothing(workflow):
    """The default seed, a default training value and an unchanged run: same options."""
    text = "seed: 20261125\ntraining: {finetune: {lr: 0.001}}\nanalyses: {haa: {enabled: true}}\n"
    assert workflow(text) == set()


def test_run_training_override_reruns_that_run_only(workflow):
    assert workflow("analyses: {haa: {runs: {main: {training: {steps: 7}}}}}\n") == {
        "finetune haa/main/pretrained/size_all/seed1",
        "finetune haa/main/scratch/size_all/seed1",
        "predict haa/main/pretrained/size_all/seed1",
        "predict haa/main/scratch/size_all/seed1",
    }


def test_prediction_setting_reruns_predictions_only(workflow):
    assert workflow("analyses: {haa: {runs: {main: {predict: {splits: [val, test]}}}}}\n") == {
        "predict haa/main/pretrained/size_all/seed1",
        "predict haa/main/scratch/size_all/seed1",
    }


QE_METHODS = [  # every reconstruction of the ci config (analytic, two EveNet runs, diagnostics)
    *(f"analytic{variant}" for variant in ("", "_truth_pairing", "_truth_nu")),
    *(
        f"evenet{variant}_main_{mode}_sizeall_seed1"
        for mode in ("pretrained", "scratch")
        for variant in ("", "_truth_pairing", "_truth_nu")
    ),
]


def test_pretraining_key_reruns_pretraining_and_pretrained_finetunes(workflow):
    assert workflow("training: {pretrain: {lr: 0.002}}\n") == {
        "pretrain",
        "finetune haa/main/pretrained/size_all/seed1",
        "predict haa/main/pretrained/size_all/seed1",
        "finetune qe/main/pretrained/size_all/seed1",
        "predict qe/main/pretrained/size_all/seed1",
        # qe's reconstruction, unfolding and summary read every prediction of its runs
        "analyses qe",
        "analyses observables",
        "analyses plots",
        # one unfolding job per reconstruction (their folders are named by the method)
        *(f"analyses {label}" for label in QE_METHODS),
        # anomaly's pretrained generator, its samples and what reads them: the classifier
        # scores, the significance of each search (inj0, inj5), generation quality, summary
        "finetune anomaly/generator/pretrained/size_all/seed1",
        "generated seed1",
        "analyses scores",
        "analyses inj0",
        "analyses inj5",
        "analyses weak_supervision",
        "analyses anomaly",
    }


def test_detector_setting_regenerates_every_shard(workflow):
    jobs = workflow("detector: {jets: {radius: 0.5}}\n")
    assert {j for j in jobs if j.startswith("ntuples")} == {
        "ntuples ttbar_dilepton",
        "ntuples haa_4b_ma30",
        "ntuples dimuon_lowmass",
        "ntuples dimuon_dy_boosted",
        "ntuples upsilon_boosted",
    }
    assert "pretrain" in jobs and "predict haa/main/scratch/size_all/seed1" in jobs


def test_disabled_analysis_schedules_no_analysis_job(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "out.yaml").write_text(f"output_dir: {tmp_path / 'out'}\n")
    (tmp_path / "off.yaml").write_text("analyses: {haa: {enabled: false}}\n")
    enabled = _jobs(_run(tmp_path, [], "dryrun"), tmp_path / "out")
    disabled = _jobs(_run(tmp_path, [tmp_path / "off.yaml"], "dryrun"), tmp_path / "out")
    analysis_jobs = {j for j in enabled if j.startswith(("finetune haa", "predict haa"))}
    assert len(analysis_jobs) == 4  # 2 finetune, 2 predict (ci's haa dataset has no background)
    # haa_cutflow's table (its event list shares the name `analyses events` with anomaly's
    # sideband list, which stays)
    analysis_jobs |= {"analyses haa"}
    assert "analyses qe" in disabled  # another analysis's jobs stay
    assert disabled == enabled - analysis_jobs


def _rule_names(tmp: Path, extra: list[Path]) -> set[str]:
    with _workflow(tmp, extra) as workflow:
        return {rule.name for rule in workflow._workflow.rules}


def test_one_rules_include_per_enabled_analysis(tmp_path):
    """The Snakefile includes analyses/<name>/rules.smk for each enabled key of `analyses`
    and for no other: `enabled: false` leaves the analysis's rules out entirely."""
    (tmp_path / "work").mkdir()
    (tmp_path / "out.yaml").write_text(f"output_dir: {tmp_path / 'out'}\n")
    (tmp_path / "off.yaml").write_text("analyses: {haa: {enabled: false}}\n")
    enabled = _rule_names(tmp_path, [])
    disabled = _rule_names(tmp_path, [tmp_path / "off.yaml"])
    haa_rules = {
        "haa_all",
        "haa_cutflow",
        "haa_xgboost",
        "haa_spanet_env",
        "haa_spanet",
        "haa_evaluate",
        "haa_summary",
        "haa_status",  # ci's haa dataset is signal only: insufficient_events
    }
    assert {r for r in enabled if r.startswith("haa_")} == haa_rules
    assert enabled - disabled == haa_rules
    assert {"generate", "convert", "pretrain", "finetune", "predict", "report", "all"} <= disabled
