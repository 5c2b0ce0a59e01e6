# Stage 1: event generation. One job per (sample, shard) runs Pythia 8 and the parametric
# detector through the evenet CLI and writes one ROOT ntuple (DESIGN.md, "Reconstruction
# ntuples"). Shard sizes come from evenet.config.shards, seeds from shard_seed.

import math

from evenet import job_options, paths
from evenet.config import shard_events


rule generate:
    """Generate one shard of one sample.

    Wildcards:
        sample: a process name of config/processes.yaml listed in generation.samples
        shard: shard index, zero-padded in file names (000, 001, ...); every shard holds
            generation.events_per_shard events, the last one the remainder
    """
    params:
        # Everything the job uses (catalogue entry, events, seed, Pythia and detector
        # settings): a change of any of them, and only that, regenerates the shard.
        options=lambda wc: job_options.to_param(
            job_options.generate(config, wc.sample, int(wc.shard))
        ),
    output:
        paths.ntuple_pattern(config),
    log:
        paths.log_pattern(config, "generate"),
    benchmark:
        paths.benchmark_pattern(config, "generate"),
    resources:
        # Measured (one x86-64 core, `evenet generate`, ttbar_dilepton): 67 events/s for 3000
        # events, 209 MB peak RSS growing ~8 kB/event. Requested: >= 17 events/s (margin for
        # busier processes and slower cores) plus 10 min start-up: 15 min for 5000 events,
        # 110 min for 100000 (config/perlmutter.yaml).
        runtime=lambda wc: 10
        + math.ceil(shard_events(config, wc.sample, int(wc.shard)) / 1000),
        # ~1 GB expected at 10^5 events per shard (see above); 2 GB leaves a factor 2.
        mem_mb=2000,
    shell:
        "evenet generate --options {params.options:q} --output {output:q} > {log:q} 2>&1"


rule generate_all:
    """Every reconstruction ntuple of the configured samples (generation.only_samples honoured)."""
    input:
        paths.all_ntuples(config),
