# Analysis `haa` (analyses/haa/README.md): H -> aa -> 4b. Its fine-tunings are
# analyses.haa.runs (central rules finetune and predict); haa_pretraining compares the modes
# of one run; the limits and plots come with the H -> aa analysis issue.

import json

import analyses.haa.paths as haa_paths


rule haa_all:
    """The whole result of the haa analysis: today the predictions of every configured run
    (analyses.haa.runs: mode x size x seed) and each run's pretrained-vs-scratch table.

    Wildcards: none.
    """
    input:
        haa_paths.cutflow(config),
        haa_paths.predictions(config),
        haa_paths.comparisons(config),


rule haa_pretraining:
    """Pretrained vs scratch on the test split of one run: AUC, 1/eps_B at eps_S = 25% and
    a -> bb pairing purity per mode x size, mean and spread over seeds, 200 bootstrap
    resamples per fine-tuning (analyses/haa/comparison.py).

    Wildcards:
        run: a key of analyses.haa.runs
    """
    input:
        lambda wc: [r["path"] for r in haa_paths.run_predictions(config, wc.run)],
    params:
        runs=lambda wc: json.dumps(haa_paths.run_predictions(config, wc.run)),
        dataset=lambda wc: paths.dataset_dir(config, config["analyses"]["haa"]["runs"][wc.run]["dataset"]),
    output:
        **haa_paths.comparison(config),
    log:
        paths.analysis_log_pattern(config, "haa", "pretraining_{run}"),
    benchmark:
        paths.analysis_benchmark_pattern(config, "haa", "pretraining_{run}")
    resources:
        runtime=30,
        mem_mb=4000,
    shell:
        "python -m analyses.haa.comparison --dataset {params.dataset:q} --runs {params.runs:q}"
        " --json {output.json:q} --markdown {output.markdown:q} > {log:q} 2>&1"


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
