"""Every output path of the workflow, in one place. Rules call these; they never build paths.

Layout below ``config['output_dir']`` (``{out}``):

    {out}/ntuples/{sample}/{sample}_{shard}.root      reconstruction ntuples (rule generate)
    {out}/pointclouds/{variant}/{sample}/             converted sample: shards + manifest.json
    {out}/datasets/{dataset}/manifest.json, stats.json    dataset (rules dataset, stats)
    {out}/training/pretrain/                          pretraining run (model.pt, metrics.csv,
                                                      loss.png, checkpoints/)
    {out}/training/finetune/{analysis}/{run}/{mode}/size_{size}/seed{seed}/   fine-tuning run
    {out}/predictions/{analysis}/{run}/{mode}/size_{size}/seed{seed}/predictions.parquet
    {out}/analyses/{analysis}/...                     analysis results (analyses/<name>/paths.py)
    {out}/analyses/{analysis}/events/{name}.parquet   selected events a run trains on
    {out}/logs/{rule}/{wildcards}.log                 log of one job ({out}/logs/{analysis}/
                                                      for an analysis's own jobs)
    {out}/benchmarks/{rule}/{wildcards}.tsv           Snakemake benchmark of one job (likewise)

Concrete paths write the shard index zero-padded to ``SHARD_DIGITS`` digits (``ttbar_007``);
the ``*_pattern`` functions return the same paths with Snakemake wildcards ``{sample}`` and
``{shard}`` in place, so a concrete path parsed with the pattern gives back (sample, shard)
and formatting the pattern with them gives back the concrete path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evenet.config import ConfigError, samples, shards
from evenet.io.manifest import MANIFEST_NAME, STATS_NAME

SHARD_DIGITS = 3
# Wildcard constraints of the workflow (the Snakefile uses these).
SAMPLE_REGEX = r"[A-Za-z0-9_]+"
SHARD_REGEX = r"\d+"
WILDCARD_CONSTRAINTS = {"sample": SAMPLE_REGEX, "shard": SHARD_REGEX}


def output_dir(config: Mapping[str, Any]) -> Path:
    """Root of all outputs: ``config['output_dir']`` with ``~`` and $VARIABLES expanded.

    An unset variable is an error: expandvars would keep "$SCRATCH" as a literal folder name
    and the whole run would land in a directory called "$SCRATCH" under the working directory.
    """
    raw = str(config["output_dir"])
    expanded = os.path.expandvars(os.path.expanduser(raw))
    unset = re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", expanded)
    if unset:
        raise ConfigError(
            f"output_dir {raw!r}: environment variable {', '.join(unset)} is not set "
            "(export it, or set output_dir in a config override)"
        )
    return Path(expanded)


def shard_label(shard: int) -> str:
    """The shard index as written in file names: zero-padded, ``7 -> '007'``."""
    if int(shard) < 0:
        raise ValueError(f"shard index must be >= 0, got {shard}")
    return f"{int(shard):0{SHARD_DIGITS}d}"


def _root(config: Mapping[str, Any]) -> str:
    # Braces in a user's directory name would read as wildcards: escape them in patterns.
    return str(output_dir(config)).replace("{", "{{").replace("}", "}}")


# --- ntuples ---------------------------------------------------------------------------------


def ntuple_pattern(config: Mapping[str, Any]) -> str:
    """Wildcard pattern of a reconstruction ntuple (wildcards: sample, shard)."""
    return str(Path(_root(config)) / "ntuples" / "{sample}" / "{sample}_{shard}.root")


def ntuple(config: Mapping[str, Any], sample: str, shard: int) -> Path:
    """Reconstruction ntuple of shard ``shard`` of ``sample``."""
    return output_dir(config) / "ntuples" / sample / f"{sample}_{shard_label(shard)}.root"


def sample_ntuples(config: Mapping[str, Any], sample: str) -> list[Path]:
    """Every ntuple of one sample, in shard order."""
    return [ntuple(config, sample, shard) for shard, _ in shards(config, sample)]


def all_ntuples(config: Mapping[str, Any]) -> list[Path]:
    """Every ntuple the configuration asks for (the target of rule generate_all)."""
    return [path for sample in samples(config) for path in sample_ntuples(config, sample)]


# --- logs and benchmarks ---------------------------------------------------------------------


def log_pattern(config: Mapping[str, Any], rule: str) -> str:
    """Wildcard pattern of the log of a per-shard job of ``rule``."""
    return str(Path(_root(config)) / "logs" / rule / "{sample}_{shard}.log")


def log(config: Mapping[str, Any], rule: str, sample: str, shard: int) -> Path:
    """Log of the ``rule`` job for shard ``shard`` of ``sample``."""
    return output_dir(config) / "logs" / rule / f"{sample}_{shard_label(shard)}.log"


def benchmark_pattern(config: Mapping[str, Any], rule: str) -> str:
    """Wildcard pattern of the benchmark (TSV) of a per-shard job of ``rule``."""
    return str(Path(_root(config)) / "benchmarks" / rule / "{sample}_{shard}.tsv")


def benchmark(config: Mapping[str, Any], rule: str, sample: str, shard: int) -> Path:
    """Benchmark (TSV) of the ``rule`` job for shard ``shard`` of ``sample``."""
    return output_dir(config) / "benchmarks" / rule / f"{sample}_{shard_label(shard)}.tsv"


# --- point clouds and datasets ---------------------------------------------------------------


def pointcloud_dir_pattern(config: Mapping[str, Any]) -> str:
    """Folder of one converted sample: Parquet shards + manifest.json (wildcards: variant,
    sample; variant "default" is the base conversion section)."""
    return str(Path(_root(config)) / "pointclouds" / "{variant}" / "{sample}")


def pointcloud_dir(config: Mapping[str, Any], sample: str, variant: str | None = None) -> Path:
    return output_dir(config) / "pointclouds" / (variant or "default") / sample


def dataset_dir(config: Mapping[str, Any], dataset: str) -> Path:
    return output_dir(config) / "datasets" / dataset


def dataset_manifest_pattern(config: Mapping[str, Any]) -> str:
    """manifest.json of a dataset (wildcard: dataset)."""
    return str(Path(_root(config)) / "datasets" / "{dataset}" / MANIFEST_NAME)


def dataset_stats_pattern(config: Mapping[str, Any]) -> str:
    """stats.json of a dataset (wildcard: dataset)."""
    return str(Path(_root(config)) / "datasets" / "{dataset}" / STATS_NAME)


def dataset_stats(config: Mapping[str, Any], dataset: str) -> Path:
    return dataset_dir(config, dataset) / STATS_NAME


def all_dataset_stats(config: Mapping[str, Any]) -> list[Path]:
    """stats.json of every configured dataset (the target of rule datasets_all)."""
    return [dataset_stats(config, name) for name in config["datasets"]]


def named_log_pattern(config: Mapping[str, Any], rule: str, *wildcards: str) -> str:
    """Log of a job of ``rule`` keyed by wildcards (e.g. sample, dataset), joined by '_'."""
    name = "_".join(f"{{{w}}}" for w in wildcards)
    return str(Path(_root(config)) / "logs" / rule / f"{name}.log")


def named_benchmark_pattern(config: Mapping[str, Any], rule: str, *wildcards: str) -> str:
    name = "_".join(f"{{{w}}}" for w in wildcards)
    return str(Path(_root(config)) / "benchmarks" / rule / f"{name}.tsv")


def pretrain_dir(config: Mapping[str, Any]) -> Path:
    """Run directory of the pretraining (checkpoints, metrics, plots; evenet.train.paths)."""
    return output_dir(config) / "training" / "pretrain"


def pretrain_outputs(config: Mapping[str, Any]) -> dict[str, Path]:
    """The declared outputs of rule pretrain: exported model, metrics and loss curves."""
    from evenet.train.paths import RunPaths

    run = RunPaths(pretrain_dir(config))
    return {"model": run.model, "metrics": run.metrics, "loss_plot": run.loss_plot}


def pretrain_dataset(config: Mapping[str, Any]) -> str:
    return config["training"]["pretrain_dataset"]


def dataset_manifest(config: Mapping[str, Any], dataset: str) -> Path:
    return dataset_dir(config, dataset) / MANIFEST_NAME


def single_log(config: Mapping[str, Any], rule: str) -> Path:
    """Log of a rule with one job per configuration (no wildcards)."""
    return output_dir(config) / "logs" / rule / f"{rule}.log"


def single_benchmark(config: Mapping[str, Any], rule: str) -> Path:
    return output_dir(config) / "benchmarks" / rule / f"{rule}.tsv"


FINETUNE_MODES = ("pretrained", "scratch")
# One fine-tuning: analysis, its run (analyses.<analysis>.runs.<run>), mode, size and seed.
_RUN_KEY = str(Path("{analysis}") / "{run}" / "{mode}" / "size_{size}" / "seed{seed}")
SIZE_REGEX = r"all|[1-9]\d*"
RUN_WILDCARDS = ("analysis", "run", "mode", "size", "seed")
PREDICTION_FILE = "predictions.parquet"


def finetune_dir_pattern(config: Mapping[str, Any]) -> str:
    """Run directory of one fine-tuning (wildcards: analysis, run, mode, size, seed)."""
    return str(Path(_root(config)) / "training" / "finetune" / _RUN_KEY)


def finetune_outputs_pattern(config: Mapping[str, Any]) -> dict[str, str]:
    from evenet.train.paths import RunPaths

    run = RunPaths(Path(finetune_dir_pattern(config)))
    return {"model": str(run.model), "metrics": str(run.metrics), "loss_plot": str(run.loss_plot)}


def prediction_pattern(config: Mapping[str, Any]) -> str:
    """Per-event outputs of one fine-tuned model on its run's splits (wildcards as finetune)."""
    return str(Path(_root(config)) / "predictions" / _RUN_KEY / PREDICTION_FILE)


def finetune_runs(config: Mapping[str, Any], analysis: str | None = None) -> list[dict[str, str]]:
    """Every (analysis, run, mode, size, seed) of the enabled analyses' runs (or of one
    analysis), as wildcard values."""
    from evenet.analyses import enabled

    names = enabled(config) if analysis is None else [analysis]
    return [
        {"analysis": name, "run": run, "mode": mode, "size": str(size), "seed": str(seed)}
        for name in names
        for run, spec in config["analyses"][name]["runs"].items()
        for mode in spec["modes"]
        for size in spec["sizes"]
        for seed in spec["seeds"]
    ]


def prediction(config: Mapping[str, Any], **run: str) -> Path:
    """Predictions of one fine-tuning; keywords: analysis, run, mode, size, seed."""
    return Path(prediction_pattern(config).format(**run))


def analysis_predictions(config: Mapping[str, Any], analysis: str) -> list[Path]:
    """Predictions of every fine-tuning of one analysis (what its ``<name>_all`` needs)."""
    return [prediction(config, **run) for run in finetune_runs(config, analysis)]


# --- analyses --------------------------------------------------------------------------------


def analysis_dir(config: Mapping[str, Any], analysis: str) -> Path:
    """Results of one analysis: ``{out}/analyses/<analysis>/`` (its paths.py builds on this)."""
    return output_dir(config) / "analyses" / analysis


def analysis_events(config: Mapping[str, Any], analysis: str, name: str) -> Path:
    """An event list (sample, run, event) an analysis rule writes for runs with ``events:``."""
    return analysis_dir(config, analysis) / "events" / f"{name}.parquet"


def analysis_log_pattern(config: Mapping[str, Any], analysis: str, name: str) -> str:
    """Log of an analysis job, ``{out}/logs/<analysis>/<name>.log``, as a rule pattern: ``name``
    may hold wildcards such as ``{run}``."""
    return str(Path(_root(config)) / "logs" / analysis / f"{name}.log")


def analysis_benchmark_pattern(config: Mapping[str, Any], analysis: str, name: str) -> str:
    """Benchmark of an analysis job, ``{out}/benchmarks/<analysis>/<name>.tsv`` (a pattern)."""
    return str(Path(_root(config)) / "benchmarks" / analysis / f"{name}.tsv")
