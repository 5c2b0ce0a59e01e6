# Stage 3: training. Pretraining runs once on config training.pretrain_dataset; on SLURM it
# is one GPU job (profiles/perlmutter sets its nodes and GPUs, and `mpi: srun`), whose command
# starts one process per GPU with srun (evenet.launch; evenet.train.distributed reads the
# SLURM variables).

from evenet import paths
from evenet.launch import training_launcher
from evenet.config import snakemake_configfiles


rule pretrain:
    """Progressive pretraining of the body (config training.pretrain).

    Wildcards: none (one run per configuration).
    """
    input:
        manifest=paths.dataset_manifest(config, paths.pretrain_dataset(config)),
        stats=paths.dataset_stats(config, paths.pretrain_dataset(config)),
    params:
        configs=snakemake_configfiles(workflow),
        dataset=paths.dataset_dir(config, paths.pretrain_dataset(config)),
        run=paths.pretrain_dir(config),
        launch=lambda wildcards, resources: training_launcher(resources),
    output:
        **paths.pretrain_outputs(config),
    log:
        paths.single_log(config, "pretrain"),
    benchmark:
        paths.single_benchmark(config, "pretrain")
    resources:
        runtime=120,  # minutes; the local tiny run takes ~15 (perlmutter overrides)
        mem_mb=8000,  # model, optimizer, two loader workers with their shuffle windows
    shell:
        # --resume: a rerun after a timeout or preemption continues from checkpoints/last.pt
        "{params.launch}evenet pretrain --dataset {params.dataset:q} --output {params.run:q} --resume"
        " --config {params.configs:q} > {log:q} 2>&1"


def _run_dataset(wildcards):
    return config["training"]["runs"][wildcards.analysis]["dataset"]


def _finetune_inputs(wildcards):
    dataset = _run_dataset(wildcards)
    inputs = {
        "manifest": paths.dataset_manifest(config, dataset),
        "stats": paths.dataset_stats(config, dataset),
    }
    if wildcards.mode == "pretrained":
        inputs["pretrained"] = paths.pretrain_outputs(config)["model"]
    return inputs


rule finetune:
    """Fine-tune on an analysis dataset (config training.finetune and training.runs).

    Wildcards:
        analysis: a key of training.runs
        mode: pretrained (from rule pretrain's model) | scratch (random initialisation)
        size: "all" or the number of training events (a fixed subset, data-size scans)
        seed: the run's seed (ensembles)
    """
    input:
        unpack(_finetune_inputs),
    params:
        configs=snakemake_configfiles(workflow),
        dataset=lambda wc: paths.dataset_dir(config, _run_dataset(wc)),
        run=paths.finetune_dir_pattern(config),
        init=lambda wc, input: (
            f"--pretrained {input.pretrained}" if wc.mode == "pretrained" else "--scratch"
        ),
        size=lambda wc: "" if wc.size == "all" else f"--train-events {wc.size}",
    output:
        **paths.finetune_outputs_pattern(config),
    log:
        paths.named_log_pattern(config, "finetune", "analysis", "mode", "size", "seed"),
    benchmark:
        paths.named_benchmark_pattern(config, "finetune", "analysis", "mode", "size", "seed")
    resources:
        runtime=60,  # minutes; local fine-tuning takes a few
        mem_mb=6000,
    shell:
        "evenet finetune --dataset {params.dataset:q} --output {params.run:q} {params.init}"
        " --seed {wildcards.seed} {params.size} --resume --config {params.configs:q}"
        " > {log:q} 2>&1"


rule predict:
    """Per-event outputs of a fine-tuned model on the test split of its dataset.

    Wildcards: as rule finetune.
    """
    input:
        model=paths.finetune_outputs_pattern(config)["model"],
    params:
        dataset=lambda wc: paths.dataset_dir(config, _run_dataset(wc)),
    output:
        paths.prediction_pattern(config),
    log:
        paths.named_log_pattern(config, "predict", "analysis", "mode", "size", "seed"),
    benchmark:
        paths.named_benchmark_pattern(config, "predict", "analysis", "mode", "size", "seed")
    resources:
        runtime=30,
        mem_mb=4000,
    shell:
        "evenet predict --checkpoint {input.model:q} --dataset {params.dataset:q}"
        " --output {output:q} > {log:q} 2>&1"
