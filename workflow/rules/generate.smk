# Stage 1: event generation. One job per (sample, shard) runs Pythia 8 and the parametric
# detector through the evenet CLI and writes one ROOT ntuple (DESIGN.md, "Reconstruction
# ntuples"). Shard sizes come from evenet.config.shards, seeds from shard_seed.

import math

from evenet import paths
from evenet.config import shard_events, snakemake_configfiles
from evenet.generation.seeds import shard_seed


rule generate:
    """Generate one shard of one sample.

    Wildcards:
        sample: a process name of config/processes.yaml listed in generation.samples
        shard: shard index, zero-padded in file names (000, 001, ...); every shard holds
            generation.events_per_shard events, the last one the remainder
    """
    params:
        events=lambda wc: shard_events(config, wc.sample, int(wc.shard)),
        seed=lambda wc: shard_seed(config["seed"], wc.sample, int(wc.shard)),
        configs=snakemake_configfiles(workflow),
    output:
        paths.ntuple_pattern(config),
    log:
        paths.log_pattern(config, "generate"),
    benchmark:
        paths.benchmark_pattern(config, "generate")
    resources:
        # Pythia 8 alone makes ~110 tt̄ events/s on one core (pythia8mc 8.317, x86-64); with
        # clustering, detector and spin-correlation accept/reject we request for >= 17 events/s,
        # plus 10 min of start-up margin: 15 min for 5000 events, 110 min for 100000.
        runtime=lambda wc: 10
        + math.ceil(shard_events(config, wc.sample, int(wc.shard)) / 1000),
        # One Pythia instance (~0.3 GB) plus one shard's ntuple columns in memory.
        mem_mb=2000,
    shell:
        "evenet generate --process {wildcards.sample:q} --events {params.events}"
        " --seed {params.seed} --output {output:q} --config {params.configs:q}"
        " > {log:q} 2>&1"


rule generate_all:
    """Every reconstruction ntuple of the configured samples (generation.only_samples honoured)."""
    input:
        paths.all_ntuples(config),
