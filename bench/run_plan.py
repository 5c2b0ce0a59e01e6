"""The Perlmutter run plan (README, "Perlmutter run plan") from measured throughput: per rule the
jobs of the full-scale dry run, their SLURM request, and CPU core-hours, node-hours and
GPU-hours, each with the measurement it is scaled from.

    snakemake --profile profiles/perlmutter -n all > perlmutter_dryrun.txt
    python bench/run_plan.py --dry-run perlmutter_dryrun.txt --local-output results \\
        [--gpu-bench bench/results/2026-11-25-h200.jsonl]

Measured: CPU job times of the local `all` (its benchmark files, this 2-core machine), and the
lite preset's training rates on one H200 (bench/results). Extrapolated: everything at full scale,
assuming a Perlmutter core (AMD EPYC 7763) runs as fast as one core here and an A100 trains the
launch-bound lite step as fast as the H200 did (both unmeasured). Analysis steps scale linearly
with their events (and ensemble or seed counts): an upper bound where fixed start-up costs
dominate locally.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from evenet.config import default_config_path, load_config, shard_events, shards, validate
from evenet.report.dry_run import job_counts

REPO = Path(__file__).resolve().parent.parent
NODE_CORES = 128  # Perlmutter CPU node: 2 x 64-core EPYC 7763 (256 hardware threads)
GPUS_PER_NODE = 4


def commands_of(text: str, command: str) -> list[list[str]]:
    """The words of every printed `evenet <command>` shell command."""
    lines = re.findall(rf"^Shell command: .*evenet {command} .*$", text, re.MULTILINE)
    return [shlex.split(line.split("Shell command: ", 1)[1].split(" > ")[0]) for line in lines]


def argument(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def local_jobs(benchmarks: Path) -> dict[str, list[tuple[str, float]]]:
    """stage -> [(file stem, job seconds)] of the local run (stage as the report groups it)."""
    jobs = defaultdict(list)
    for path in sorted(benchmarks.rglob("*.tsv")):
        parts = path.relative_to(benchmarks).parts
        stage = f"{parts[0]}_{parts[1]}" if len(parts) == 3 else parts[0]
        row = list(csv_rows(path))[-1]
        jobs[stage].append((path.stem, float(row["s"])))
    return jobs


def csv_rows(path: Path):
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    for line in lines[1:]:
        yield dict(zip(header, line.split("\t"), strict=True))


def generation_rates(local: dict, jobs: dict) -> dict[str, float]:
    """Events per core-second of each locally generated sample (tried events / job time)."""
    events, seconds = defaultdict(float), defaultdict(float)
    for stem, secs in jobs.get("generate", []):
        sample, shard = stem.rsplit("_", 1)
        events[sample] += shard_events(local, sample, int(shard))
        seconds[sample] += secs
    return {s: events[s] / seconds[s] for s in events if seconds[s] > 0}


def gpu_rates(path: Path) -> dict[str, float]:
    """The H200's lite training rates (events/s) of the real training loop (`bench train`)."""
    rates = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row.get("bench") == "train" and row.get("preset") == "lite":
            rates[f"{row['mode']}_{row['batch_size']}"] = row["events_per_s"]
    return rates


def rows_of(folder: Path, pattern: str) -> list[int]:
    return [pq.ParquetFile(p).metadata.num_rows for p in sorted(folder.glob(pattern))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", required=True, help="`snakemake --profile ... -n` output")
    parser.add_argument("--local-output", required=True, help="the local run's output_dir")
    parser.add_argument("--gpu-bench", default=str(REPO / "bench/results/2026-11-25-h200.jsonl"))
    args = parser.parse_args()

    text = Path(args.dry_run).read_text()
    counts = job_counts(text)
    local = validate(load_config([default_config_path()]))
    full = validate(load_config([default_config_path(), REPO / "config" / "perlmutter.yaml"]))
    profile = yaml.safe_load((REPO / "profiles/perlmutter/config.yaml").read_text())
    out = Path(args.local_output)
    jobs = local_jobs(out / "benchmarks")
    gpu = gpu_rates(Path(args.gpu_bench))

    def local_seconds(stage: str) -> float:
        return sum(s for _, s in jobs.get(stage, []))

    def local_per_job(stage: str) -> float:
        return local_seconds(stage) / max(len(jobs.get(stage, [])), 1)

    def tried(config, samples) -> float:
        return sum(config["generation"]["samples"].get(s, 0) for s in samples)

    def dataset_events(config, name) -> float:
        return tried(config, config["datasets"][name]["samples"])

    rates = generation_rates(local, jobs)
    fallback = sum(rates.values()) / len(rates)
    plan = []  # (rule, jobs, request, core-h, gpu-h, basis)

    # --- generation: per sample, full events / local rate
    gen_hours, assumed = 0.0, []
    for sample, events in full["generation"]["samples"].items():
        rate = rates.get(sample)
        if rate is None:
            assumed.append(sample)
        gen_hours += events / (rate or fallback) / 3600
    n_shards = sum(len(shards(full, s)) for s in full["generation"]["samples"])
    plan.append(
        (
            "generate",
            counts.get("generate", n_shards),
            f"packed {profile['group-components']['cpu_node']} per CPU node",
            gen_hours,
            0.0,
            f"local rate per sample ({len(rates)} measured, {', '.join(assumed) or 'none'} at "
            f"their mean {fallback:.0f} events/core-s)",
        )
    )
    ratio_all = tried(full, full["generation"]["samples"]) / tried(
        local, local["generation"]["samples"]
    )
    for rule in ("convert", "dataset", "stats"):
        plan.append(
            (
                rule,
                counts.get(rule, 0),
                "one job each",
                local_seconds(rule) * ratio_all / 3600,
                0.0,
                f"local total x all-events ratio {ratio_all:.0f}",
            )
        )

    # --- training on GPUs: steps x batch / the H200's measured rate
    pre = full["training"]["pretrain"]
    pre_rate = gpu.get("pretrain_1024", 4573.0)
    res = profile["set-resources"]["pretrain"]
    hours = pre["steps"] * pre["batch_size"] / pre_rate / 3600
    plan.append(
        (
            "pretrain",
            1,
            f"{res['gpu']} GPUs x {res['runtime']} min, resubmitted from last.pt",
            0.0,
            hours * res["gpu"],
            f"{pre['steps']} steps x batch {pre['batch_size']}/GPU at {pre_rate:.0f} events/s/GPU "
            "(H200, lite, bench train)",
        )
    )
    ft_rate = gpu.get("finetune_1024", 5227.0)
    ft_hours = sum(
        o["training"]["steps"] * o["training"]["batch_size"] / ft_rate / 3600
        for o in (json.loads(argument(w, "--options")) for w in commands_of(text, "finetune"))
    )
    plan.append(
        (
            "finetune",
            counts.get("finetune", 0),
            "1 GPU each",
            0.0,
            ft_hours,
            f"steps x batch of each run at {ft_rate:.0f} events/s (H200, lite, bench train)",
        )
    )
    test = full["conversion"]["split_fractions"][2]
    predict_events = test * sum(
        dataset_events(full, Path(argument(w, "--dataset")).name)
        for w in commands_of(text, "predict")
    )
    plan.append(
        (
            "predict",
            counts.get("predict", 0),
            "1 GPU each",
            0.0,
            predict_events / ft_rate / 3600,
            f"test split of each run's dataset ({predict_events:.2e} events) at the fine-tuning "
            "rate (forward only: an upper bound; unmeasured)",
        )
    )
    generated = out / "generated"
    local_rows = rows_of(generated, "**/*.parquet") if generated.is_dir() else []
    per_job = sum(local_rows) / max(len(local_rows), 1)
    dy = (
        full["generation"]["samples"]["dimuon_dy_boosted"]
        / local["generation"]["samples"]["dimuon_dy_boosted"]
    )
    steps = full["analyses"]["anomaly"]["runs"]["generator"]["sample"]["steps"]
    sample_rate = ft_rate * 3 / steps  # a forward pass ~ 1/3 of a training step, per step
    plan.append(
        (
            "sample",
            counts.get("sample", 0),
            "1 GPU each",
            0.0,
            counts.get("sample", 0) * per_job * dy / sample_rate / 3600,
            f"{per_job:.0f} events per local job x DY ratio {dy:.0f}, {steps} diffusion steps at "
            f"~{sample_rate:.0f} events/s (derived, unmeasured)",
        )
    )

    # --- analysis steps: local job time x the full scale's events (and ensembles, seeds)
    qe = dataset_events(full, "qe") / dataset_events(local, "qe")
    haa = dataset_events(full, "haa") / dataset_events(local, "haa")
    ws_full, ws_local = (c["analyses"]["anomaly"]["weak_supervision"] for c in (full, local))
    ensemble = ws_full["classifier"]["ensemble"] / ws_local["classifier"]["ensemble"]
    seeds = len(full["analyses"]["anomaly"]["runs"]["generator"]["seeds"]) / len(
        local["analyses"]["anomaly"]["runs"]["generator"]["seeds"]
    )
    scaling = {
        "qe": (qe, f"tt̄ events x{qe:.0f}"),
        "haa": (haa, f"haa dataset events x{haa:.0f}"),
        "anomaly": (dy, f"DY events x{dy:.0f}"),
    }
    sizes = [int(x) for x in full["analyses"]["haa"]["runs"]["main"]["sizes"] if x != "all"]
    infos = sorted((out / "analyses/haa/xgboost").glob("*/*/info.json"))
    local_train = json.loads(infos[0].read_text())["events"]["train"] if infos else math.nan
    train_ratio = (sum(sizes) / len(sizes)) / local_train
    local_methods = len(jobs.get("finetune_haa", [])) or sum(
        1 for stem, _ in jobs.get("finetune", []) if stem.startswith("haa_")
    )
    local_methods += len(jobs.get("haa_xgboost", [])) + len(jobs.get("haa_spanet", []))
    full_methods = counts.get("haa_xgboost", 0) + counts.get("haa_spanet", 0)
    full_methods += sum(
        1
        for w in commands_of(text, "finetune")
        if json.loads(argument(w, "--options"))["analysis"] == "haa"
    )
    haa_methods = full_methods / max(local_methods, 1)
    special = {
        "haa_xgboost": (
            train_ratio,
            f"training events x{train_ratio:.0f} (mean size / the local {local_train} events)",
        ),
        "haa_evaluate": (
            train_ratio * haa_methods,
            f"selected events x{train_ratio:.0f}, methods x{haa_methods:.0f}",
        ),
        "haa_summary": (1.0, "fixed cost (tables and plots)"),
        "qe_summary": (1.0, "fixed cost (tables and plots)"),
        "anomaly_summary": (1.0, "fixed cost (tables and plots)"),
        "anomaly_classify": (dy * ensemble, f"DY events x{dy:.0f}, ensemble x{ensemble:.0f}"),
        "anomaly_significance": (seeds, f"records per search x{seeds:.0f} (seeds)"),
        "anomaly_mass_only": (
            dataset_events(full, "dimuon") / dataset_events(local, "dimuon_sim"),
            "dimuon_lowmass vs local dimuon_sim events",
        ),
    }
    for rule, n in sorted(counts.items()):
        analysis = rule.split("_", 1)[0]
        if analysis not in scaling or rule.endswith("_all"):
            continue
        stage = rule
        request = profile["set-resources"].get(rule, {})
        if rule == "haa_spanet":  # failed in seconds locally (val split < one batch)
            hours = n * request["runtime"] / 60
            plan.append(
                (rule, n, _request(profile, rule), 0.0, hours, "requested runtime (unmeasured)")
            )
            continue
        if not jobs.get(stage):
            plan.append((rule, n, _request(profile, rule), math.nan, 0.0, "not run locally"))
            continue
        factor, basis = special.get(rule, scaling[analysis])
        gpu_rule = request.get("constraint") == "gpu"
        hours = local_per_job(stage) * n * factor / 3600
        plan.append(
            (
                rule,
                n,
                _request(profile, rule),
                0.0 if gpu_rule else hours,
                hours if gpu_rule else 0.0,
                f"local {local_per_job(stage):.0f} s/job x {basis}"
                + (" (CPU time: an upper bound for the GPU)" if gpu_rule else ""),
            )
        )

    print("| rule | jobs | SLURM request | core-hours | node-hours | GPU-hours | basis |")
    print("|---|---|---|---|---|---|---|")
    total_core = total_gpu = 0.0
    for rule, n, request, core, gpu_hours, basis in plan:
        total_core += 0 if math.isnan(core) else core
        total_gpu += gpu_hours
        shown = "–" if math.isnan(core) else f"{core:,.1f}"
        node = "–" if math.isnan(core) else f"{core / NODE_CORES:,.2f}"
        print(f"| {rule} | {n} | {request} | {shown} | {node} | {gpu_hours:,.1f} | {basis} |")
    print(
        f"| **total** | {sum(counts.values())} | | {total_core:,.0f} | "
        f"{total_core / NODE_CORES:,.1f} | {total_gpu:,.0f} | GPU nodes: "
        f"{total_gpu / GPUS_PER_NODE:,.1f} node-hours |"
    )


def _request(profile: dict, rule: str) -> str:
    res = {**profile["default-resources"], **profile["set-resources"].get(rule, {})}
    group = profile.get("groups", {}).get(rule)
    text = f"{res['runtime']} min, {res['mem_mb'] / 1000:.0f} GB, {res['cpus_per_task']} CPUs"
    if res.get("constraint") == "gpu":
        text = f"GPU x{res.get('gpu', 1)}, " + text
    if group:
        text += f"; packed {profile['group-components'][group]} per node"
    return text


if __name__ == "__main__":
    main()
