# EveNet pipeline: generate -> convert -> pretrain -> fine-tune -> report (DESIGN.md).
# Table of contents only: configuration, validation, wildcard constraints, rule files, `all`.
# Paths come from evenet/paths.py, sample and shard bookkeeping from evenet/config.py.

import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")

# Import the evenet package of this checkout (the code the rules were written against), even
# where another version is installed or none is. Jobs call the `evenet` console script, which
# needs the package installed: `pip install -e .` (README.md).
sys.path.insert(0, workflow.basedir)

from evenet import paths  # noqa: E402


# config/config.yaml is the local-scale default; profiles and users layer overrides on top
# with --configfile (config/ci.yaml, config/perlmutter.yaml). Every key is described in the
# schema, which also fills defaults and rejects unknown (mistyped) keys. The path is anchored
# at this file so that `--directory DIR` (outputs and .snakemake/ elsewhere) still loads it.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, "workflow/schemas/config.schema.yaml")


wildcard_constraints:
    sample=paths.SAMPLE_REGEX,
    shard=paths.SHARD_REGEX,
    dataset=paths.SAMPLE_REGEX,
    variant=paths.SAMPLE_REGEX,
    analysis=paths.SAMPLE_REGEX,
    mode="|".join(paths.FINETUNE_MODES),
    seed=r"\d+",
    size=paths.SIZE_REGEX,


include: "workflow/rules/generate.smk"
include: "workflow/rules/convert.smk"
include: "workflow/rules/train.smk"


rule all:
    """Everything the configuration asks for.

    Currently: every reconstruction ntuple (rule generate_all), every dataset with its
    statistics (rule datasets_all), the pretrained model (rule pretrain) and the test-split
    predictions of every fine-tuning of training.runs (rules finetune, predict). The analyses
    add their targets here.
    """
    default_target: True
    input:
        rules.generate_all.input,
        rules.datasets_all.input,
        rules.pretrain.output,
        paths.all_predictions(config),
