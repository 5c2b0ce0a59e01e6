# Rule report: {output_dir}/report/index.html and index.md (evenet/report/), the page a
# physicist reviews after `all`.

from evenet import analyses, job_options, paths


rule report:
    """The report of everything `all` makes: per analysis its summary.md, plots and CSV files;
    the dataset summaries; every training run's curves; per-stage wall time and memory from
    the benchmark files; the settings cut for this scale; and provenance (code version,
    config fingerprints, seeds, package versions, devices).

    Wildcards: none.
    """
    input:
        rules.generate_all.input,
        rules.datasets_all.input,
        rules.pretrain.output,
        analyses.all_targets(rules, config),
    params:
        options=job_options.to_param(job_options.report(config)),
    output:
        directory(paths.report_dir(config)),
    log:
        paths.single_log(config, "report"),
    benchmark:
        paths.single_benchmark(config, "report")
    resources:
        runtime=30,
        mem_mb=4000,
    shell:
        "evenet report --output {output:q} --options {params.options:q} > {log:q} 2>&1"
