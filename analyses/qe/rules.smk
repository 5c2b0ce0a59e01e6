# Analysis `qe` (analyses/qe/README.md): entanglement in dileptonic tt̄. Stages: cutflow,
# parton-level coefficients, reconstruction (EveNet runs of analyses.qe.runs, analytic,
# diagnostics), unfolding with closure and toys, summary with plots.

import json

import analyses.qe.paths as qe_paths
from analyses.qe.settings import generator_masses

_QE = config["analyses"]["qe"]


rule qe_all:
    """The whole result of the qe analysis: summary.md with its tables and plots.

    Wildcards: none.
    """
    input:
        qe_paths.cutflow(config),
        qe_paths.summary(config),


rule qe_cutflow:
    """The dileptonic selection on every event of analyses.qe.dataset, step by step,
    unweighted and weighted, with the parton-level threshold region (m_tt < mtt_max).

    Wildcards: none.
    """
    input:
        manifest=lambda wc: qe_paths.dataset(config) / "manifest.json",
    params:
        dataset=lambda wc: qe_paths.dataset(config),
        mtt_max=_QE["mtt_max"],
    output:
        qe_paths.cutflow(config),
    log:
        qe_paths.log(config, "cutflow"),
    benchmark:
        qe_paths.benchmark(config, "cutflow")
    resources:
        runtime=15,
        mem_mb=4000,
    shell:
        "python -m analyses.qe.selection --dataset {params.dataset:q} --output {output:q}"
        " --mtt-max {params.mtt_max} > {log:q} 2>&1"


rule qe_parton:
    """Generator-level C, B, D of every event of the dataset (all splits) in the quoted
    regions (m_tt < mtt_max, with beta_z < 0.9, 340-380 GeV, all).

    Wildcards: none.
    """
    input:
        manifest=lambda wc: qe_paths.dataset(config) / "manifest.json",
    params:
        dataset=lambda wc: qe_paths.dataset(config),
        mtt_max=_QE["mtt_max"],
    output:
        qe_paths.parton(config),
    log:
        qe_paths.log(config, "parton"),
    benchmark:
        qe_paths.benchmark(config, "parton")
    resources:
        runtime=30,
        mem_mb=16000,
    shell:
        "python -m analyses.qe.parton --dataset {params.dataset:q} --output {output:q}"
        " --mtt-max {params.mtt_max} > {log:q} 2>&1"


rule qe_reconstruct:
    """Every reconstruction of the selected test events: EveNet (each run of analyses.qe.runs),
    the analytic ellipse method with the generator's masses, their diagnostics and the parton
    level, as per-event observables; pairing efficiencies.

    Wildcards: none.
    """
    input:
        manifest=lambda wc: qe_paths.dataset(config) / "manifest.json",
        predictions=qe_paths.predictions(config),
    params:
        dataset=lambda wc: qe_paths.dataset(config),
        runs=lambda wc: json.dumps(qe_paths.evenet_runs(config)),
        folder=qe_paths.observables_dir(config),
        masses=generator_masses(config),
    output:
        **qe_paths.reconstruction(config),
    log:
        qe_paths.log(config, "reconstruct"),
    benchmark:
        qe_paths.benchmark(config, "reconstruct")
    resources:
        runtime=60,
        mem_mb=16000,
    shell:
        "python -m analyses.qe.reconstruct --dataset {params.dataset:q} --runs {params.runs:q}"
        " --output-dir {params.folder:q} --pairing {output.pairing:q} --info {output.info:q}"
        " --m-top {params.masses[0]} --m-w {params.masses[1]} > {log:q} 2>&1"


def _qe_settings(wildcards=None):
    return (
        f"--mtt-max {_QE['mtt_max']} --x-bins {_QE['x_bins']}"
        f" --luminosity-fb {_QE['luminosity_fb']}"
        f" --cross-section-pb {_QE['cross_section_pb']} --toys {_QE['toys']}"
        f" --bootstrap {_QE['bootstrap']} --crosscheck-toys {_QE['crosscheck_toys']}"
        f" --seed {_QE['seed']}"
    )


rule qe_unfold_method:
    """One reconstruction unfolded from half B with half A's response: its spin matrix,
    closure (bootstrap), precision at the luminosity (Poisson toys), cross-checks, bins.

    Wildcards:
        label: a method of reconstruction.json (analytic, evenet_<run>_<mode>_size<N>_seed<S>,
            their _truth_pairing / _truth_nu diagnostics)
    """
    wildcard_constraints:
        label=r"[A-Za-z0-9_]+",
    input:
        info=qe_paths.reconstruction(config)["info"],
        parton=qe_paths.reconstruction(config)["parton_observables"],
        observables=qe_paths.observables_dir(config) / "{label}.parquet",
    params:
        folder=qe_paths.observables_dir(config),
        output_dir=lambda wc: qe_paths.results_dir(config) / "unfolding" / wc.label,
        settings=_qe_settings,
    output:
        **qe_paths.method_unfolding(config),
    log:
        qe_paths.log(config, "unfold_{label}"),
    benchmark:
        qe_paths.benchmark(config, "unfold_method", "unfold_{label}")
    resources:
        runtime=120,
        mem_mb=16000,
    shell:
        "python -m analyses.qe.measure method --label {wildcards.label}"
        " --observables {params.folder:q} --info {input.info:q}"
        " --output-dir {params.output_dir:q} {params.settings} > {log:q} 2>&1"


rule qe_unfold:
    """Every method's tables in one file each (spin_matrix, closure, precision, bins,
    crosscheck, toys) with the parton level, and unfolding.json.

    Wildcards: none.
    """
    input:
        **qe_paths.reconstruction(config),
        methods=qe_paths.all_method_unfoldings(config),
    params:
        folder=qe_paths.observables_dir(config),
        methods_dir=qe_paths.results_dir(config) / "unfolding",
        output_dir=qe_paths.results_dir(config),
        settings=_qe_settings,
    output:
        **qe_paths.unfolding(config),
    log:
        qe_paths.log(config, "unfold"),
    benchmark:
        qe_paths.benchmark(config, "unfold")
    resources:
        runtime=15,
        mem_mb=4000,
    shell:
        "python -m analyses.qe.measure merge --methods-dir {params.methods_dir:q}"
        " --observables {params.folder:q} --info {input.info:q}"
        " --output-dir {params.output_dir:q} {params.settings} > {log:q} 2>&1"


rule qe_response_study:
    """How many events the unfolding needs (analytic method): the analysis's setup against a
    response from the train split and pseudo-data from val + test, with bootstrap closures.

    Wildcards: none.
    """
    input:
        manifest=lambda wc: qe_paths.dataset(config) / "manifest.json",
    params:
        dataset=lambda wc: qe_paths.dataset(config),
        masses=generator_masses(config),
        settings=lambda wc: (
            f"--mtt-max {_QE['mtt_max']} --x-bins {_QE['x_bins']}"
            f" --bootstrap {_QE['bootstrap']} --seed {_QE['seed']}"
        ),
    output:
        qe_paths.response_study(config),
    log:
        qe_paths.log(config, "response_study"),
    benchmark:
        qe_paths.benchmark(config, "response_study")
    resources:
        runtime=120,
        mem_mb=64000,  # every split in memory: ~25 GB at Perlmutter's 10^7 events
    shell:
        "python -m analyses.qe.response_study --dataset {params.dataset:q} --output {output:q}"
        " --m-top {params.masses[0]} --m-w {params.masses[1]} {params.settings} > {log:q} 2>&1"


rule qe_summary:
    """summary.md (our numbers beside the published ones, with conventions, luminosity and
    cross-section) and the plots.

    Wildcards: none.
    """
    input:
        cutflow=qe_paths.cutflow(config),
        parton=qe_paths.parton(config),
        response_study=qe_paths.response_study(config),
        **qe_paths.reconstruction(config),
        **qe_paths.unfolding(config),
    params:
        folder=qe_paths.results_dir(config),
        settings=lambda wc: (
            f"--mtt-max {_QE['mtt_max']} --luminosity-fb {_QE['luminosity_fb']}"
            f" --cross-section-pb {_QE['cross_section_pb']}"
        ),
    output:
        summary=qe_paths.summary(config),
        plots=qe_paths.plots(config),
    log:
        qe_paths.log(config, "summary"),
    benchmark:
        qe_paths.benchmark(config, "summary")
    resources:
        runtime=15,
        mem_mb=4000,
    shell:
        "python -m analyses.qe.summary --results {params.folder:q} {params.settings}"
        " > {log:q} 2>&1"
