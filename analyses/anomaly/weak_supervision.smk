# Analysis `anomaly`, stages 3-4: the weakly supervised bump hunt with generated sidebands
# (issue 17; analyses/anomaly/README.md). Stages, one rule each:
#   anomaly_select        selected events, injection plan, sideband list, condition files
#   finetune + sample     EveNet generators on the sideband list (run weak_supervision.
#                         generator_run), sampled at the SR and SB-validation masses
#   anomaly_flow          CATHODE's flow baseline per seed, sampled at the same masses
#   anomaly_classify      k-fold XGBoost per (search, method, seed): out-of-fold scores
#   anomaly_significance  cut-and-count and reweighted bump hunts with bootstrap, per search
#   anomaly_generation_quality   AUC / MMD / coverage against held-out sideband data
#   anomaly_summary       summary.md and the injection curve

import json

import analyses.anomaly.paths as anomaly_paths
from analyses.anomaly.paths import SIDEBAND_LIST, SIDEBAND_VAL, sr_conditions_name


_anomaly = config["analyses"]["anomaly"]
_weak = _anomaly["weak_supervision"]


def _weak_supervision_checks():
    """Settings that cannot work together, as one clear error before any job runs."""
    name = _weak["dataset"]
    if name not in config["datasets"]:
        raise WorkflowError(
            f"analyses.anomaly.weak_supervision.dataset {name!r} is not in `datasets` "
            f"(known: {', '.join(config['datasets'])})"
        )
    missing = set(_weak["signal_samples"]) - set(config["datasets"][name]["samples"])
    if missing:
        raise WorkflowError(
            f"analyses.anomaly.weak_supervision.signal_samples {sorted(missing)} are not "
            f"samples of dataset {name!r}"
        )
    run = _anomaly["runs"].get(_weak["generator_run"])
    if run is None:
        raise WorkflowError(
            f"analyses.anomaly.weak_supervision.generator_run {_weak['generator_run']!r} is "
            "not in analyses.anomaly.runs"
        )
    events = run["events"] or {}
    problems = []
    if run["dataset"] != name:
        problems.append(f"its dataset is {run['dataset']!r}, not {name!r}")
    if events.get("name") != SIDEBAND_LIST or events.get("val_fraction") is None:
        problems.append(f"it needs events: {{name: {SIDEBAND_LIST}, val_fraction: F}}")
    if [str(s) for s in run["sizes"]] != ["all"]:
        problems.append("its sizes must be [all]")
    if problems:
        raise WorkflowError(
            f"analyses.anomaly.runs.{_weak['generator_run']} cannot be the generator: "
            + "; ".join(problems)
        )
    return run


if _weak["dataset"] is not None:
    _generator = _weak_supervision_checks()
    _searches = anomaly_paths.searches(config)
    _methods = anomaly_paths.methods(config)

    def _window_options():
        return {"window": _anomaly["window"], "min_sideband_events": _anomaly["min_sideband_events"]}

    def _background_samples(conditions, method, seed):
        """The file of one background model's samples at one condition file."""
        if method == "flow":
            return anomaly_paths.flow_samples(config, seed)[conditions]
        return paths.generated(
            config,
            conditions,
            analysis="anomaly",
            run=_weak["generator_run"],
            mode=method,
            size="all",
            seed=seed,
        )

    rule anomaly_select:
        """Selected events, injection plan, the generators' sideband list and the condition
        files (SB validation masses; SR masses from each search's sideband fit).

        Wildcards: none.
        """
        input:
            manifest=paths.dataset_manifest(config, _weak["dataset"]),
        params:
            dataset=paths.dataset_dir(config, _weak["dataset"]),
            options=json.dumps(
                {
                    "window": _anomaly["window"],
                    "signal_samples": _weak["signal_samples"],
                    "injections": _weak["injections"],
                    "samples_per_sr_event": _weak["samples_per_sr_event"],
                    "val_fraction": _generator["events"]["val_fraction"],
                    "seed": config["seed"],
                },
                sort_keys=True,
            ),
            outputs=json.dumps({k: str(v) for k, v in anomaly_paths.selected(config).items()}),
        output:
            **anomaly_paths.selected(config),
        log:
            paths.analysis_log_pattern(config, "anomaly", "select"),
        benchmark:
            paths.analysis_benchmark_pattern(config, "anomaly", "select")
        resources:
            runtime=10,
            mem_mb=4000,
        shell:
            "python -m analyses.anomaly.select_stage --dataset {params.dataset:q}"
            " --options {params.options:q} --outputs {params.outputs:q} > {log:q} 2>&1"

    rule anomaly_flow:
        """CATHODE's conditional flow on the sideband list, sampled at every condition file.

        Wildcards:
            seed: one of weak_supervision.flow.seeds
        """
        input:
            events=anomaly_paths.selected(config)["events"],
            sideband=anomaly_paths.selected(config)["sideband"],
            conditions=[
                anomaly_paths.selected(config)[name]
                for name in [SIDEBAND_VAL] + [sr_conditions_name(s) for s in _searches]
            ],
        params:
            conditions=json.dumps(
                {
                    name: str(anomaly_paths.selected(config)[name])
                    for name in [SIDEBAND_VAL] + [sr_conditions_name(s) for s in _searches]
                }
            ),
            outputs=lambda wc: json.dumps(
                {k: str(v) for k, v in anomaly_paths.flow_samples(config, wc.seed).items()}
            ),
            epochs=_weak["flow"]["epochs"],
        wildcard_constraints:
            seed=r"\d+",
        output:
            **anomaly_paths.flow_samples(config),
        log:
            paths.analysis_log_pattern(config, "anomaly", "flow_seed{seed}"),
        benchmark:
            paths.analysis_benchmark_pattern(config, "anomaly", "flow", "flow_seed{seed}")
        resources:
            runtime=60,
            mem_mb=2000,
        shell:
            "python -m analyses.anomaly.flow_stage --selected {input.events:q}"
            " --sideband {input.sideband:q} --conditions {params.conditions:q}"
            " --outputs {params.outputs:q} --seed {wildcards.seed} --epochs {params.epochs}"
            " > {log:q} 2>&1"

    rule anomaly_classify:
        """Out-of-fold classifier scores of every data event of one search, trained against
        one background model's SR samples.

        Wildcards:
            search: inj<k> (simulation) or data
            method: pretrained | scratch (EveNet generators) | flow
            seed: the model's seed
        """
        input:
            events=anomaly_paths.selected(config)["events"],
            plan=anomaly_paths.selected(config)["plan"],
            samples=lambda wc: _background_samples(
                sr_conditions_name(wc.search), wc.method, wc.seed
            ),
        params:
            options=json.dumps(
                {
                    "sr": _anomaly["window"]["sr"],
                    "samples_per_sr_event": _weak["samples_per_sr_event"],
                    **_weak["classifier"],
                    "seed": config["seed"] % 100000,
                },
                sort_keys=True,
            ),
        wildcard_constraints:
            search=r"inj[0-9p]+|data",
            method=r"pretrained|scratch|flow",
            seed=r"\d+",
        output:
            **anomaly_paths.scores(config),
        log:
            paths.analysis_log_pattern(config, "anomaly", "classify_{search}_{method}_seed{seed}"),
        benchmark:
            paths.analysis_benchmark_pattern(
                config, "anomaly", "classify", "classify_{search}_{method}_seed{seed}"
            )
        resources:
            runtime=30,
            mem_mb=2000,
        shell:
            "python -m analyses.anomaly.classify_stage --selected {input.events:q}"
            " --plan {input.plan:q} --search {wildcards.search} --method {wildcards.method}"
            " --samples {input.samples:q} --options {params.options:q}"
            " --scores {output.scores:q} --record {output.record:q} > {log:q} 2>&1"

    rule anomaly_significance:
        """Cut-and-count (every FPR) and reweighted bump hunts of one search, every method and
        seed, with bootstrap resamples; Z against FPR and spectra at a few cuts.

        Wildcards:
            search: inj<k> or data
        """
        input:
            scores=lambda wc: [
                anomaly_paths.scores(config, wc.search, m, s)["scores"] for m, s in _methods
            ],
        params:
            scores=lambda wc: json.dumps(
                {
                    f"{m}/{s}": str(anomaly_paths.scores(config, wc.search, m, s)["scores"])
                    for m, s in _methods
                }
            ),
            options=lambda wc: json.dumps(
                {
                    **_window_options(),
                    "fpr": _weak["fpr"],
                    "bootstrap": _weak["bootstrap"],
                    "seed": config["seed"],
                    "title": wc.search,
                },
                sort_keys=True,
            ),
            outputs=lambda wc: json.dumps(
                {k: str(v) for k, v in anomaly_paths.significance(config, wc.search).items()}
            ),
        wildcard_constraints:
            search=r"inj[0-9p]+|data",
        output:
            **anomaly_paths.significance(config),
        log:
            paths.analysis_log_pattern(config, "anomaly", "significance_{search}"),
        benchmark:
            paths.analysis_benchmark_pattern(
                config, "anomaly", "significance", "significance_{search}"
            )
        resources:
            runtime=30,
            mem_mb=2000,
        shell:
            "python -m analyses.anomaly.significance_stage --scores {params.scores:q}"
            " --options {params.options:q} --outputs {params.outputs:q} > {log:q} 2>&1"

    rule anomaly_generation_quality:
        """Every background model against the held-out sideband data: AUC, MMD, coverage.

        Wildcards: none.
        """
        input:
            events=anomaly_paths.selected(config)["events"],
            sideband=anomaly_paths.selected(config)["sideband"],
            samples=[_background_samples(SIDEBAND_VAL, m, s) for m, s in _methods],
        params:
            samples=json.dumps(
                {f"{m}/{s}": str(_background_samples(SIDEBAND_VAL, m, s)) for m, s in _methods}
            ),
            options=json.dumps({**_window_options(), "seed": config["seed"] % 100000}),
        output:
            **anomaly_paths.generation_quality(config),
        log:
            paths.analysis_log_pattern(config, "anomaly", "generation_quality"),
        benchmark:
            paths.analysis_benchmark_pattern(config, "anomaly", "generation_quality")
        resources:
            runtime=20,
            mem_mb=2000,
        shell:
            "python -m analyses.anomaly.quality_stage --selected {input.events:q}"
            " --sideband {input.sideband:q} --samples {params.samples:q}"
            " --options {params.options:q} --table {output.table:q} --plot {output.plot:q}"
            " > {log:q} 2>&1"

    rule anomaly_summary:
        """summary.md of the weakly supervised searches and the injection curve.

        Wildcards: none.
        """
        input:
            plan=anomaly_paths.selected(config)["plan"],
            significance=[anomaly_paths.significance(config, s)["reweighted"] for s in _searches],
            quality=anomaly_paths.generation_quality(config)["table"],
            records=[
                anomaly_paths.scores(config, search, m, s)["record"]
                for search in _searches
                for m, s in _methods
            ],
        params:
            searches=json.dumps(
                {
                    s: [
                        str(anomaly_paths.significance(config, s)["cut_and_count"]),
                        str(anomaly_paths.significance(config, s)["reweighted"]),
                    ]
                    for s in _searches
                }
            ),
            settings=json.dumps({**_weak, "window": _anomaly["window"]}, sort_keys=True),
            records=lambda wc, input: json.dumps(list(input.records)),
        output:
            **anomaly_paths.summary(config),
        log:
            paths.analysis_log_pattern(config, "anomaly", "summary"),
        benchmark:
            paths.analysis_benchmark_pattern(config, "anomaly", "summary")
        resources:
            runtime=10,
            mem_mb=2000,
        shell:
            "python -m analyses.anomaly.summary --plan {input.plan:q}"
            " --searches {params.searches:q} --quality {input.quality:q}"
            " --settings {params.settings:q} --records {params.records:q}"
            " --summary {output.summary:q}"
            " --injection {output.injection:q} > {log:q} 2>&1"
