# Stage 3: training. Pretraining runs once on config training.pretrain_dataset; on SLURM it
# is one GPU job (profiles/perlmutter sets its nodes and GPUs), launched as one process per GPU
# by srun (evenet.train.distributed reads the SLURM variables).

from evenet import paths
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
        "evenet pretrain --dataset {params.dataset:q} --output {params.run:q} --resume"
        " --config {params.configs:q} > {log:q} 2>&1"
