# Stage 2: point clouds. One job per sample converts all its ntuples into Parquet shards with
# a manifest (evenet convert); one job per dataset lists samples and a class map (evenet
# dataset) and one computes its normalisation statistics (evenet stats). Shapes and ids are
# global (config/topologies.yaml, config/processes.yaml), so samples convert independently.

from evenet import job_options, paths


rule convert:
    """Convert every ntuple of one sample.

    Wildcards:
        variant: "default" (the conversion section) or a name of conversion_variants
        sample: a generated sample (generation.samples)
    """
    input:
        lambda wc: paths.sample_ntuples(config, wc.sample),
    wildcard_constraints:
        sample=paths.generated_samples_regex(config),  # real data: rule cms_pointclouds
    params:
        # Conversion settings (variant merged), readers, topology checksum: a change reconverts.
        options=lambda wc: job_options.to_param(
            job_options.convert(config, wc.sample, wc.variant)
        ),
    output:
        directory(paths.pointcloud_dir_pattern(config)),
    log:
        paths.named_log_pattern(config, "convert", "variant", "sample"),
    benchmark:
        paths.named_benchmark_pattern(config, "convert", "variant", "sample")
    resources:
        runtime=30,  # minutes; local samples convert in seconds
        mem_mb=4000,  # chunks of 100k events (~1 GB) plus the writer's buffer
    shell:
        "evenet convert --input {input:q} --output {output:q} --options {params.options:q}"
        " > {log:q} 2>&1"


rule dataset:
    """Dataset manifest over converted samples with the task's class map.

    Wildcards:
        dataset: a name of config `datasets`
    """
    input:
        lambda wc: [
            paths.pointcloud_dir(config, s, config["datasets"][wc.dataset].get("variant"))
            for s in config["datasets"][wc.dataset]["samples"]
        ],
    params:
        folder=lambda wc: paths.dataset_dir(config, wc.dataset),
        # name and class expressions, as JSON: no config value reaches the shell unquoted
        options=lambda wc: job_options.to_param(job_options.dataset(config, wc.dataset)),
    output:
        paths.dataset_manifest_pattern(config),
    log:
        paths.named_log_pattern(config, "dataset", "dataset"),
    benchmark:
        paths.named_benchmark_pattern(config, "dataset", "dataset")
    shell:
        "evenet dataset --samples {input:q} --output {params.folder:q}"
        " --options {params.options:q} > {log:q} 2>&1"


rule stats:
    """Normalisation statistics (train split) of a dataset, plus its printed summary.

    Wildcards:
        dataset: a name of config `datasets`
    """
    input:
        paths.dataset_manifest_pattern(config),
    params:
        options=job_options.to_param(job_options.stats()),
    output:
        paths.dataset_stats_pattern(config),
    log:
        paths.named_log_pattern(config, "stats", "dataset"),
    benchmark:
        paths.named_benchmark_pattern(config, "stats", "dataset")
    shell:
        "evenet stats {input:q} --options {params.options:q} > {log:q} 2>&1"


rule datasets_all:
    """Every configured dataset with its statistics."""
    input:
        paths.all_dataset_stats(config),
