# Analysis `haa` (analyses/haa/README.md): H -> aa -> 4b. Its EveNet fine-tunings are
# analyses.haa.runs (central rules finetune and predict, on haa_cutflow's event list);
# haa_xgboost and haa_spanet (in haa_spanet_env's pinned environment) train the baselines on
# the same events; haa_evaluate and haa_summary compare every method.

import json

import analyses.haa.paths as haa_paths
from evenet import job_options


def _haa_settings():
    """The evaluation's settings from analyses.haa (analyses/haa/evaluate.py Settings)."""
    haa = config["analyses"]["haa"]
    return {
        "masses": haa["masses"],
        "luminosity_fb": haa["luminosity_fb"],
        "sigma_ggh_pb": haa["sigma_ggh_pb"],
        "bootstrap": haa["bootstrap"],
        "min_neff": haa["min_neff"],
        **haa["limit"],
    }


rule haa_all:
    """The whole result of the haa analysis: the cutflow, every fine-tuning's predictions and,
    for runs that train on the selected events of a signal-vs-QCD dataset, XGBoost beside
    EveNet, metrics.csv, limits.csv, summary.md and its plots.

    Wildcards: none.
    """
    input:
        haa_paths.cutflow(config),
        haa_paths.predictions(config),
        haa_paths.summary(config),


rule haa_xgboost:
    """XGBoost on the haa features, trained on exactly the events and weights of the EveNet
    fine-tuning of the same run, size and seed (analyses/haa/bdt.py); scores the listed test
    events.

    Wildcards:
        run: a key of analyses.haa.runs with an `events` list
        size: a size of that run ("all" or a number of training events)
        seed: a seed of that run
    """
    input:
        manifest=lambda wc: paths.dataset_manifest(config, config["analyses"]["haa"]["runs"][wc.run]["dataset"]),
        events=haa_paths.selected_events(config),
    params:
        dataset=lambda wc: paths.dataset_dir(config, config["analyses"]["haa"]["runs"][wc.run]["dataset"]),
        options=lambda wc: job_options.to_param(
            job_options.finetune(config, "haa", wc.run, "scratch", wc.size, int(wc.seed))
        ),
        workdir=lambda wc: haa_paths.xgboost_dir(config, wc.run, wc.size, wc.seed),
    output:
        **haa_paths.xgboost(config),
    log:
        paths.analysis_log_pattern(config, "haa", "xgboost_{run}_size{size}_seed{seed}"),
    benchmark:
        paths.analysis_benchmark_pattern(
            config, "haa", "xgboost", "xgboost_{run}_size{size}_seed{seed}"
        )
    threads: 2
    resources:
        runtime=60,
        mem_mb=8000,
    shell:
        "python -m analyses.haa.bdt --dataset {params.dataset:q} --events {input.events:q}"
        " --options {params.options:q} --workdir {params.workdir:q} --scores {output.scores:q}"
        " --info {output.info:q} --threads {threads} > {log:q} 2>&1"


rule haa_spanet_env:
    """SPANet's pinned virtual environment (analyses/haa/spanet-requirements.txt), built once
    per output_dir; status.json says `ok` or `not_run` with the reason (never fails).

    Wildcards: none.
    """
    input:
        requirements=haa_paths.SPANET_REQUIREMENTS,
    params:
        prefix=lambda wc: haa_paths.spanet_env(config),
    output:
        status=str(haa_paths.spanet_env(config) / "status.json"),
    log:
        paths.analysis_log_pattern(config, "haa", "spanet_env"),
    resources:
        runtime=30,
        mem_mb=4000,
    shell:
        "python -m analyses.haa.spanet env --prefix {params.prefix:q}"
        " --requirements {input.requirements:q} --status {output.status:q} > {log:q} 2>&1"


rule haa_spanet:
    """SPANet trained on the events of the EveNet fine-tuning of the same run, size and seed
    (export to its HDF5 layout, `python -m spanet.train`, `python -m spanet.predict`, read
    back; analyses/haa/spanet.py). `status: not_run` or `failed` with the reason when its
    environment or its training does not work.

    Wildcards:
        run: a key of analyses.haa.runs with an `events` list
        size: a size of that run ("all" or a number of training events)
        seed: a seed of that run
    """
    input:
        env=str(haa_paths.spanet_env(config) / "status.json"),
        manifest=lambda wc: paths.dataset_manifest(config, config["analyses"]["haa"]["runs"][wc.run]["dataset"]),
        events=haa_paths.selected_events(config),
    params:
        env=lambda wc: haa_paths.spanet_env(config),
        dataset=lambda wc: paths.dataset_dir(config, config["analyses"]["haa"]["runs"][wc.run]["dataset"]),
        options=lambda wc: job_options.to_param(
            job_options.finetune(config, "haa", wc.run, "scratch", wc.size, int(wc.seed))
        ),
        settings=lambda wc: json.dumps(config["analyses"]["haa"]["spanet"]),
        workdir=lambda wc: haa_paths.spanet_dir(config, wc.run, wc.size, wc.seed),
    output:
        **haa_paths.spanet(config),
    log:
        paths.analysis_log_pattern(config, "haa", "spanet_{run}_size{size}_seed{seed}"),
    benchmark:
        paths.analysis_benchmark_pattern(
            config, "haa", "spanet", "spanet_{run}_size{size}_seed{seed}"
        )
    threads: 2
    resources:
        runtime=240,
        mem_mb=16000,
    shell:
        "python -m analyses.haa.spanet run --env {params.env:q} --dataset {params.dataset:q}"
        " --events {input.events:q} --options {params.options:q} --workdir {params.workdir:q}"
        " --settings {params.settings:q} --scores {output.scores:q} --info {output.info:q}"
        " > {log:q} 2>&1"


rule haa_evaluate:
    """Every method (EveNet per mode, XGBoost) on the selected test events: metrics.csv
    (weighted AUC, 1/eps_B at 10/25/50% with the background N_eff behind them, max SIC,
    pairing purity, bootstrap errors), limits.csv (pyhf expected CLs limits on
    BR(H -> aa -> 4b)) and curves.json (ROC and score histograms for the plots).

    Wildcards: none.
    """
    input:
        methods=lambda wc: [m["path"] for m in haa_paths.methods(config)]
        + [m["info"] for m in haa_paths.methods(config) if "info" in m],
        events=haa_paths.selected_events(config),
        manifest=lambda wc: haa_paths.dataset(config) / "manifest.json",
    params:
        dataset=lambda wc: haa_paths.dataset(config),
        methods=lambda wc: json.dumps(haa_paths.methods(config)),
        settings=lambda wc: json.dumps(_haa_settings()),
    output:
        **haa_paths.evaluation(config),
    log:
        paths.analysis_log_pattern(config, "haa", "evaluate"),
    benchmark:
        paths.analysis_benchmark_pattern(config, "haa", "evaluate")
    resources:
        runtime=120,
        mem_mb=16000,
    shell:
        "python -m analyses.haa.evaluate --dataset {params.dataset:q} --events {input.events:q}"
        " --methods {params.methods:q} --settings {params.settings:q}"
        " --metrics {output.metrics:q} --limits {output.limits:q} --curves {output.curves:q}"
        " > {log:q} 2>&1"


rule haa_summary:
    """summary.md (pilot table and background plan, metrics, limits, the published numbers)
    and the plots (ROC per m_a, 1/eps_B and purity vs size, score distributions, limits vs
    m_a) of the haa analysis.

    Wildcards: none.
    """
    input:
        cutflow=haa_paths.cutflow(config),
        manifest=lambda wc: haa_paths.dataset(config) / "manifest.json",
        **haa_paths.evaluation(config),
    params:
        settings=lambda wc: json.dumps(
            {
                **_haa_settings(),
                "plan_max_rejection": config["analyses"]["haa"]["plan_max_rejection"],
                "test_fraction": config["conversion"]["split_fractions"][2],
                "train_fraction": config["conversion"]["split_fractions"][0],
                **haa_paths.largest_training(config),
            }
        ),
        plots=lambda wc: haa_paths.plots_dir(config),
    output:
        summary=haa_paths.summary(config),
        plots=[str(haa_paths.plots_dir(config) / f"{name}.png") for name in haa_paths.PLOTS],
    log:
        paths.analysis_log_pattern(config, "haa", "summary"),
    benchmark:
        paths.analysis_benchmark_pattern(config, "haa", "summary")
    resources:
        runtime=30,
        mem_mb=4000,
    shell:
        "python -m analyses.haa.summary --cutflow {input.cutflow:q} --manifest {input.manifest:q}"
        " --metrics {input.metrics:q} --limits {input.limits:q} --curves {input.curves:q}"
        " --settings {params.settings:q} --summary {output.summary:q} --plots {params.plots:q}"
        " > {log:q} 2>&1"


if not haa_paths.evaluated_runs(config):

    ruleorder: haa_status > haa_summary

    rule haa_status:
        """summary.md and status.json (`insufficient_events`, with the selected events per
        sample) when no run can be compared (analyses/haa/status.py); replaces haa_summary.

        Wildcards: none.
        """
        input:
            cutflow=haa_paths.cutflow(config),
        params:
            classes=lambda wc: json.dumps(
                config["datasets"][config["analyses"]["haa"]["dataset"]].get("classes") or []
            ),
        output:
            summary=haa_paths.summary(config),
            status=haa_paths.status(config),
        log:
            paths.analysis_log_pattern(config, "haa", "status"),
        benchmark:
            paths.analysis_benchmark_pattern(config, "haa", "status")
        resources:
            runtime=10,
            mem_mb=2000,
        shell:
            "python -m analyses.haa.status --cutflow {input.cutflow:q}"
            " --classes {params.classes:q} --summary {output.summary:q}"
            " --status {output.status:q} > {log:q} 2>&1"


rule haa_cutflow:
    """EveNet's selection on every event of analyses.haa.dataset: the cutflow per sample
    (events, Σw, N_eff) and the list of selected events (the runs' `events: {name: selected}`).

    Wildcards: none.
    """
    input:
        manifest=lambda wc: haa_paths.dataset(config) / "manifest.json",
    params:
        dataset=lambda wc: haa_paths.dataset(config),
        cuts=lambda wc: " ".join(
            f"--{key.replace('_', '-')} {value}"
            for key, value in config["analyses"]["haa"]["selection"].items()
        ),
    output:
        cutflow=haa_paths.cutflow(config),
        events=haa_paths.selected_events(config),
    log:
        paths.analysis_log_pattern(config, "haa", "cutflow"),
    benchmark:
        paths.analysis_benchmark_pattern(config, "haa", "cutflow")
    resources:
        runtime=30,
        mem_mb=16000,
    shell:
        "python -m analyses.haa.selection --dataset {params.dataset:q} --cutflow {output.cutflow:q}"
        " --events {output.events:q} {params.cuts} > {log:q} 2>&1"
