# Analysis `qe` (analyses/qe/README.md): entanglement in dileptonic tt̄. Today its selection
# and cutflow; reconstruction, unfolding and the precision come with the next stages of
# issue 14 and will be requested by qe_all.

import analyses.qe.paths as qe_paths


rule qe_all:
    """The whole result of the qe analysis: today the cutflow of its dataset.

    Wildcards: none.
    """
    input:
        qe_paths.cutflow(config),


rule qe_cutflow:
    """The dileptonic selection on every event of analyses.qe.dataset, step by step,
    unweighted and weighted, with the parton-level threshold region (m_tt < mtt_max).

    Wildcards: none.
    """
    input:
        manifest=lambda wc: qe_paths.dataset(config) / "manifest.json",
    params:
        dataset=lambda wc: qe_paths.dataset(config),
        mtt_max=config["analyses"]["qe"]["mtt_max"],
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
