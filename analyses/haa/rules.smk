# Analysis `haa` (analyses/haa/README.md): H -> aa -> 4b. Its fine-tunings are
# analyses.haa.runs (central rules finetune and predict); its statistics and plots come with
# the H -> aa analysis issue and will be requested by haa_all.

import analyses.haa.paths as haa_paths


rule haa_all:
    """The whole result of the haa analysis: today the predictions of every configured run
    (analyses.haa.runs: mode x size x seed).

    Wildcards: none.
    """
    input:
        haa_paths.predictions(config),
