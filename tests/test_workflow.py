"""Dry runs of the Snakemake workflow through each shipped profile.

The Python API does not load profiles, so these run the `snakemake` CLI as a subprocess
from the repository, exactly as a user does, with `--directory` and `output_dir` pointing
into a temporary directory: nothing (not even .snakemake/) is written into the checkout.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from analyses.anomaly import paths as anomaly_paths
from analyses.haa import paths as haa_paths
from analyses.qe import paths as qe_paths
from evenet import job_options as jo
from evenet import paths
from evenet.config import load_config, samples, shards
from evenet.report.dry_run import job_counts

REPO = Path(__file__).resolve().parent.parent

# profile -> config files it layers, in order (the Snakefile's config/config.yaml first).
PROFILES = {
    "local": ["config/config.yaml"],
    "ci": ["config/config.yaml", "config/ci.yaml"],
    "perlmutter": ["config/config.yaml", "config/perlmutter.yaml"],
}


def _expected_shards(profile: str) -> int:
    config = load_config([REPO / f for f in PROFILES[profile]])
    return sum(len(shards(config, sample)) for sample in samples(config))


def dry_run(profile: str, tmp_path: Path, *targets: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE_")}
    env["SBATCH_ACCOUNT"] = "dummy"  # the perlmutter profile reads it; nothing is submitted
    before = {p.name for p in REPO.iterdir()}
    result = subprocess.run(
        # Targets first: --config takes every following word as a KEY=VALUE pair.
        [
            sys.executable,
            "-m",
            "snakemake",
            *targets,
            "--profile",
            f"profiles/{profile}",
            "--dry-run",
            "--directory",
            str(tmp_path / "work"),
            "--config",
            f"output_dir={tmp_path / 'out'}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    created = {p.name for p in REPO.iterdir()} - before
    assert not created & {".snakemake", "results", "out"}, f"dry run wrote into the repo: {created}"
    return output


def ci_dry_run_with(tmp_path: Path, override: Path, *targets: str):
    """A dry run of the ci profile with ``override`` layered on config/ci.yaml (the result,
    failed or not)."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        *targets,
        "--profile",
        "profiles/ci",
        "--dry-run",
        "--directory",
        str(tmp_path / "work"),
        "--configfile",
        "config/ci.yaml",
        str(override),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE_")}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    """Dry-run output per profile, run once per test module (the perlmutter DAG has ~10^3 jobs)."""
    cache: dict[str, tuple[str, Path]] = {}

    def get(profile: str) -> tuple[str, Path]:
        if profile not in cache:
            tmp = tmp_path_factory.mktemp(profile)
            cache[profile] = (dry_run(profile, tmp), tmp)
        return cache[profile]

    return get


def shell_commands(output: str) -> list[str]:
    return re.findall(r"^Shell command: (evenet generate .*)$", output, flags=re.MULTILINE)


def job_options(command: str) -> dict:
    """The --options JSON of a printed shell command."""
    words = shlex.split(command)
    return json.loads(words[words.index("--options") + 1])


@pytest.mark.parametrize("profile", list(PROFILES))
def test_dry_run_all(profile, dry_runs):
    """`snakemake --profile profiles/X` schedules one generate job per shard of the
    profile's configuration, one convert job per (variant, sample) a dataset lists, one dataset and
    one stats job per dataset, one pretraining, and rule all."""
    output, tmp_path = dry_runs(profile)
    config = load_config([REPO / f for f in PROFILES[profile]])
    # One conversion per (variant, sample) that some dataset lists.
    converted = {(d.get("variant"), s) for d in config["datasets"].values() for s in d["samples"]}
    config["output_dir"] = str(tmp_path / "out")
    runs = paths.finetune_runs(config)
    # anomaly's generator runs are sampled (rule sample), never predicted
    generators = [r for r in runs if r["analysis"] == "anomaly"]
    searches = anomaly_paths.searches(config)
    methods = anomaly_paths.methods(config)
    assert job_counts(output) == {
        "generate": _expected_shards(profile),
        "convert": len(converted),
        "dataset": len(config["datasets"]),
        "stats": len(config["datasets"]),
        "pretrain": 1,
        "finetune": len(runs),
        "predict": len(runs) - len(generators),
        "sample": len(generators) * (1 + len(searches)),  # SB validation + SR per search
        "anomaly_select": 1,
        "anomaly_flow": len(config["analyses"]["anomaly"]["weak_supervision"]["flow"]["seeds"]),
        "anomaly_classify": len(searches) * len(methods),
        "anomaly_significance": len(searches),
        "anomaly_generation_quality": 1,
        "anomaly_summary": 1,
        **(
            {
                "haa_xgboost": sum(
                    1 for m in haa_paths.methods(config) if m["method"] == "xgboost"
                ),
                "haa_spanet": sum(1 for m in haa_paths.methods(config) if m["method"] == "spanet"),
                "haa_spanet_env": 1,
                "haa_evaluate": 1,
                "haa_summary": 1,
            }
            if haa_paths.evaluated_runs(config)
            else {"haa_status": 1}  # insufficient_events: no signal-vs-background run
        ),
        "haa_cutflow": 1,
        **dict.fromkeys(
            [
                "qe_cutflow",
                "qe_parton",
                "qe_reconstruct",
                "qe_unfold",
                "qe_response_study",
                "qe_summary",
            ],
            1,
        ),
        "qe_unfold_method": len(qe_paths.method_labels(config)),  # one job per reconstruction
        "anomaly_mass_only": len(config["analyses"]["anomaly"]["mass_only"]),
        "report": 1,
        "all": 1,
    }
    # The methods are compared where the haa dataset has signal and background (not at ci).
    assert bool(haa_paths.evaluated_runs(config)) == (profile != "ci")
    commands = shell_commands(output)
    assert len(commands) == _expected_shards(profile)
    # Jobs get their resolved options, never config-file paths, and write below output_dir.
    assert "--config" not in " ".join(re.findall(r"^Shell command: .*$", output, re.MULTILINE))
    assert all(f"--output {tmp_path / 'out' / 'ntuples'}" in c for c in commands)
    for command in commands:  # each job's options are exactly what the resolver gives
        sample, shard = re.search(r"/(\w+)_(\d+)\.root ", command).groups()
        assert job_options(command) == jo.generate(config, sample, int(shard)), command


def test_ci_shard_count_and_target(tmp_path):
    """The CI scale is 44 shards of 100 events: ttbar_dilepton 2, haa_4b_ma30 1,
    dimuon_lowmass 1, and anomaly's filtered dimuon_dy_boosted 25 and upsilon_boosted 15."""
    output = dry_run("ci", tmp_path, "generate_all")
    assert job_counts(output) == {"generate": 44, "generate_all": 1}
    options = [job_options(c) for c in shell_commands(output)]
    assert Counter(o["process"]["name"] for o in options) == {
        "dimuon_lowmass": 1,
        "haa_4b_ma30": 1,
        "ttbar_dilepton": 2,
        "dimuon_dy_boosted": 25,
        "upsilon_boosted": 15,
    }
    assert all(o["events"] == 100 for o in options)
    seeds = [o["seed"] for o in options]
    assert len(set(seeds)) == len(seeds), "two shards share a random stream"


def test_perlmutter_packs_generate_jobs_per_node(dry_runs):
    """Generation runs packed: 128 generate jobs per SLURM submission (one CPU node)."""
    output, _ = dry_runs("perlmutter")
    groups = output.count("Group job cpu_node")
    assert groups == math.ceil(_expected_shards("perlmutter") / 128)
    assert "slurm_account=dummy" in output and "constraint=cpu" in output


def test_perlmutter_profile_sizes_every_analysis_rule_and_packs_cpu_steps(dry_runs):
    """Every analysis rule (and the report) has its SLURM request in the profile; the CPU-heavy
    analysis steps are bundled into node jobs that fit one CPU node (256 hardware threads,
    512 GB)."""
    import yaml

    output, _ = dry_runs("perlmutter")
    profile = yaml.safe_load((REPO / "profiles/perlmutter/config.yaml").read_text())
    counts = job_counts(output)
    prefixes = tuple(f"{name}_" for name in ("qe", "haa", "anomaly"))
    analysis_rules = {r for r in counts if r.startswith(prefixes) and not r.endswith("_all")}
    assert analysis_rules and analysis_rules | {"report", "sample"} <= set(profile["set-resources"])
    defaults = profile["default-resources"]
    for rule, group in profile["groups"].items():
        size = profile["group-components"][group]
        resources = {**defaults, **profile["set-resources"].get(rule, {})}
        assert size * resources["cpus_per_task"] <= 256, rule
        assert size * resources["mem_mb"] <= 512_000, rule
        if rule != "generate":
            assert output.count(f"Group job {group}") == math.ceil(counts[rule] / size), rule


def test_every_scheduled_command_parses_with_the_cli(dry_runs):
    """Guards against a rule passing an option the `evenet` CLI does not have (a dry run
    alone would not notice)."""
    import shlex

    from evenet.cli import build_parser

    output, _ = dry_runs("ci")
    commands = re.findall(r"^Shell command: (evenet .*?)(?: >.*)?$", output, flags=re.MULTILINE)
    assert {c.split()[1] for c in commands} >= {
        "generate",
        "convert",
        "dataset",
        "stats",
        "pretrain",
    }
    parser = build_parser()
    for command in commands:
        parser.parse_args(shlex.split(command)[1:])  # exits (fails the test) on a bad option


def test_perlmutter_pretraining_starts_one_task_per_gpu(dry_runs):
    """Guards against DDP silently running as one process on a 4-GPU node: without an `mpi`
    resource the SLURM executor wraps the command in `srun -n1`, so the rule's command must
    start the tasks itself, with their CPUs (srun does not inherit --cpus-per-task). Local
    runs start the plain command."""
    output, _ = dry_runs("perlmutter")
    pretrain = re.findall(r"^Shell command: (.*evenet pretrain .*)$", output, flags=re.MULTILINE)
    assert len(pretrain) == 1 and pretrain[0].startswith("srun -n 4 -c 32 evenet pretrain ")
    finetune = re.findall(r"^Shell command: (.*evenet finetune .*)$", output, flags=re.MULTILINE)
    assert finetune and all(c.startswith("evenet finetune ") for c in finetune)
    local, _ = dry_runs("ci")
    assert re.search(r"^Shell command: evenet pretrain ", local, flags=re.MULTILINE)


def test_training_launcher_reads_the_job_resources():
    from evenet.launch import training_launcher

    assert training_launcher({}) == ""
    assert training_launcher({"mpi": "srun", "tasks": 8, "cpus_per_task": 32}) == (
        "srun -n 8 -c 32 "
    )
    assert training_launcher({"mpi": "srun", "tasks": 2}) == "srun -n 2 "


def test_run_on_selected_events_takes_the_analysis_event_list(tmp_path):
    """A run with `events:` makes the analysis's event list an input of its fine-tunings and
    hands it to the command; without the list (no rule wrote it) the DAG cannot be built."""
    out = tmp_path / "out"
    override = tmp_path / "events.yaml"
    override.write_text(
        f"output_dir: {out}\n"
        "analyses: {haa: {runs: {picked: {dataset: haa, modes: [pretrained, scratch],"
        " events: {name: picked, stratify: {signal: 0.1}}}}}}\n"
    )
    missing = ci_dry_run_with(tmp_path, override)
    assert missing.returncode != 0 and "picked.parquet" in missing.stdout + missing.stderr
    events = out / "analyses" / "haa" / "events" / "picked.parquet"
    events.parent.mkdir(parents=True)
    events.write_bytes(b"")
    result = ci_dry_run_with(tmp_path, override)
    assert result.returncode == 0, result.stderr[-3000:]
    finetunes = re.findall(r"^Shell command: (evenet finetune .*)$", result.stdout, re.MULTILINE)
    finetunes = [line for line in finetunes if "/haa/picked/" in line]
    assert len(finetunes) == 2  # the run's two modes
    for line in finetunes:
        assert f"--events {events} " in line
        assert job_options(line)["events"] == {
            "name": "picked",
            "stratify": {"signal": 0.1},
            "val_fraction": None,
        }


def test_rule_sample_generates_with_a_runs_model_from_an_analysis_condition_file(tmp_path):
    """The template an analysis calls (issue 16): asking for paths.generated schedules the
    run's fine-tuning and `evenet sample` on the analysis's condition file, with the run's seed
    and its `sample` settings; without the condition file (no rule wrote it) the DAG fails."""
    out = tmp_path / "out"
    override = tmp_path / "gen.yaml"
    override.write_text(
        f"output_dir: {out}\n"
        "analyses: {haa: {runs: {gen: {dataset: haa, modes: [scratch], seeds: [4],"
        " training: {tasks: [object_generation]}, sample: {oversample: 50}}}}}\n"
    )
    config = {"output_dir": str(out)}  # all that paths needs
    run = {"analysis": "haa", "run": "gen", "mode": "scratch", "size": "all", "seed": "4"}
    target = paths.generated(config, "sideband", **run)
    assert target == out / "generated/haa/gen/scratch/size_all/seed4/sideband.parquet"
    missing = ci_dry_run_with(tmp_path, override, str(target))
    assert missing.returncode != 0 and "sideband.parquet" in missing.stdout + missing.stderr
    conditions = paths.analysis_conditions(config, "haa", "sideband")
    conditions.parent.mkdir(parents=True)
    conditions.write_bytes(b"")
    result = ci_dry_run_with(tmp_path, override, str(target))
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout)["sample"] == 1
    (line,) = re.findall(r"^Shell command: (evenet sample .*?) >", result.stdout, re.MULTILINE)
    words = shlex.split(line)
    assert words[words.index("--conditions") + 1] == str(conditions)
    assert words[words.index("--seed") + 1] == "4"
    assert words[words.index("--oversample") + 1] == "50"
    assert words[words.index("--steps") + 1] == "25"
    model = out / "training/finetune/haa/gen/scratch/size_all/seed4/model.pt"
    assert words[words.index("--checkpoint") + 1] == str(model)
    from evenet.cli import build_parser

    build_parser().parse_args(words[1:])
