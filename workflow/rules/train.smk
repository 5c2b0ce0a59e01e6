# Stage 3: training. Pretraining runs once on config training.pretrain_dataset; on SLURM it
# is one GPU job (profiles/perlmutter sets its nodes and GPUs, and `mpi: srun`), whose command
# starts one process per GPU with srun (evenet.launch; evenet.train.distributed reads the
# SLURM variables). Fine-tuning and prediction run once per (analysis, run, mode, size, seed)
# of the enabled analyses' `runs`; each analysis's <name>_all requests the predictions.

from evenet import job_options, paths
from evenet.launch import training_launcher


rule pretrain:
    """Progressive pretraining of the body (config training.pretrain).

    Wildcards: none (one run per configuration).
    """
    input:
        manifest=paths.dataset_manifest(config, paths.pretrain_dataset(config)),
        stats=paths.dataset_stats(config, paths.pretrain_dataset(config)),
    params:
        options=job_options.to_param(job_options.pretrain(config)),
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
        # a rerun after a timeout or preemption continues the checkpoint of the same options and
        # data; with other options or data (or a finished run) the run starts anew
        "{params.launch}evenet pretrain --dataset {params.dataset:q} --output {params.run:q}"
        " --resume-or-start --options {params.options:q} > {log:q} 2>&1"


def _run_dataset(wildcards):
    return job_options.run_spec(config, wildcards.analysis, wildcards.run)["dataset"]


def _finetune_inputs(wildcards):
    dataset = _run_dataset(wildcards)
    inputs = {
        "manifest": paths.dataset_manifest(config, dataset),
        "stats": paths.dataset_stats(config, dataset),
    }
    if wildcards.mode == "pretrained":
        inputs["pretrained"] = paths.pretrain_outputs(config)["model"]
    events = job_options.run_spec(config, wildcards.analysis, wildcards.run)["events"]
    if events is not None:  # written by a rule of the analysis
        inputs["events"] = paths.analysis_events(config, wildcards.analysis, events["name"])
    return inputs


def _finetune_options(wildcards):
    return job_options.to_param(
        job_options.finetune(
            config,
            wildcards.analysis,
            wildcards.run,
            wildcards.mode,
            wildcards.size,
            int(wildcards.seed),
        )
    )


rule finetune:
    """Fine-tune on an analysis dataset (training.finetune + analyses.<analysis>.runs.<run>).

    Wildcards:
        analysis: an enabled analysis (a key of `analyses`)
        run: a key of analyses.<analysis>.runs
        mode: pretrained (from rule pretrain's model) | scratch (random initialisation)
        size: "all" or the number of training events (a fixed subset, data-size scans)
        seed: the run's seed (ensembles)

    A run with `events:` trains on the events its analysis selected (the list is an input).
    """
    input:
        unpack(_finetune_inputs),
    params:
        options=_finetune_options,
        dataset=lambda wc: paths.dataset_dir(config, _run_dataset(wc)),
        run=paths.finetune_dir_pattern(config),
        init=lambda wc, input: (
            ["--pretrained", input.pretrained] if wc.mode == "pretrained" else ["--scratch"]
        ),
        events=lambda wc, input: ["--events", input.events] if "events" in input.keys() else [],
    output:
        **paths.finetune_outputs_pattern(config),
    log:
        paths.named_log_pattern(config, "finetune", *paths.RUN_WILDCARDS),
    benchmark:
        paths.named_benchmark_pattern(config, "finetune", *paths.RUN_WILDCARDS)
    resources:
        runtime=60,  # minutes; local fine-tuning takes a few
        mem_mb=6000,
    shell:
        "evenet finetune --dataset {params.dataset:q} --output {params.run:q} {params.init:q}"
        " {params.events:q} --resume-or-start --options {params.options:q} > {log:q} 2>&1"


rule predict:
    """Per-event outputs of a fine-tuned model on its run's splits (predict.splits).

    Wildcards: as rule finetune.
    """
    input:
        model=paths.finetune_outputs_pattern(config)["model"],
    params:
        options=lambda wc: job_options.to_param(
            job_options.predict(config, wc.analysis, wc.run)
        ),
        dataset=lambda wc: paths.dataset_dir(config, _run_dataset(wc)),
    output:
        paths.prediction_pattern(config),
    log:
        paths.named_log_pattern(config, "predict", *paths.RUN_WILDCARDS),
    benchmark:
        paths.named_benchmark_pattern(config, "predict", *paths.RUN_WILDCARDS)
    resources:
        runtime=30,
        mem_mb=4000,
    shell:
        "evenet predict --checkpoint {input.model:q} --dataset {params.dataset:q}"
        " --output {output:q} --options {params.options:q} > {log:q} 2>&1"
