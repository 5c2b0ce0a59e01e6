# Analysis `anomaly` (analyses/anomaly/README.md): the dimuon bump hunt. Stage 1, the
# mass-only bump hunt, runs once per input of analyses.anomaly.mass_only; stages 3-4 (the
# weakly supervised search with generated sidebands, weak_supervision.smk) run when
# analyses.anomaly.weak_supervision.dataset is set.

import json

import analyses.anomaly.paths as anomaly_paths


_unknown = {
    name: entry["dataset"]
    for name, entry in config["analyses"]["anomaly"]["mass_only"].items()
    if entry["dataset"] not in config["datasets"]
}
if _unknown:
    raise WorkflowError(
        f"analyses.anomaly.mass_only names datasets that are not in `datasets`: {_unknown} "
        f"(known: {', '.join(config['datasets'])})"
    )


def _anomaly_mass_only_options(wildcards):
    """The job's options (its rerun fingerprint): the input and the bump-hunt window."""
    anomaly = config["analyses"]["anomaly"]
    entry = anomaly["mass_only"][wildcards.name]
    return json.dumps(
        {
            "column": entry["column"],
            "weight": entry["weight"],
            "where": entry["where"],
            "window": anomaly["window"],
            "min_sideband_events": anomaly["min_sideband_events"],
        },
        sort_keys=True,
    )


def _anomaly_dataset(wildcards):
    return config["analyses"]["anomaly"]["mass_only"][wildcards.name]["dataset"]


rule anomaly_all:
    """The whole result of the anomaly analysis: the mass-only bump hunt of every input and,
    with weak_supervision.dataset set, the weakly supervised searches' summary.md.

    Wildcards: none.
    """
    input:
        anomaly_paths.all_mass_only(config),
        anomaly_paths.all_weak_supervision(config),


rule anomaly_mass_only:
    """The mass-only bump hunt of one input (bumphunt_mass_only.json and the spectrum).

    Wildcards:
        name: a key of analyses.anomaly.mass_only
    """
    input:
        manifest=lambda wc: paths.dataset_manifest(config, _anomaly_dataset(wc)),
    params:
        dataset=lambda wc: paths.dataset_dir(config, _anomaly_dataset(wc)),
        options=_anomaly_mass_only_options,
    wildcard_constraints:
        name=paths.SAMPLE_REGEX,
    output:
        **anomaly_paths.mass_only(config),
    log:
        paths.analysis_log_pattern(config, "anomaly", "mass_only_{name}"),
    benchmark:
        paths.analysis_benchmark_pattern(config, "anomaly", "mass_only", "mass_only_{name}")
    resources:
        runtime=10,
        mem_mb=2000,
    shell:
        "python -m analyses.anomaly.mass_only --dataset {params.dataset:q}"
        " --options {params.options:q} --result {output.result:q} --plot {output.plot:q}"
        " > {log:q} 2>&1"


include: "weak_supervision.smk"
