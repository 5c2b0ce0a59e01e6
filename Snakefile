# EveNet pipeline: generate -> convert -> pretrain -> fine-tune -> analyses (DESIGN.md).
# Table of contents only: configuration, validation, wildcard constraints, rule files, `all`.
# Paths come from evenet/paths.py, each job's options from evenet/job_options.py.

import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

# Import the evenet package of this checkout (the code the rules were written against), even
# where another version is installed or none is. Jobs call the `evenet` console script, which
# needs the package installed: `pip install -e .` (README.md).
sys.path.insert(0, workflow.basedir)

from evenet import analyses, paths  # noqa: E402
from evenet.config import (  # noqa: E402
    ConfigError,
    config_origin,
    snakemake_configfiles,
    validate as validate_config,
)


# config/config.yaml is the local-scale default; profiles and users layer overrides on top
# with --configfile (config/ci.yaml, config/perlmutter.yaml). Every key is described in the
# schema, which also fills defaults and rejects unknown (mistyped) keys. The path is anchored
# at this file so that `--directory DIR` (outputs and .snakemake/ elsewhere) still loads it.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


# The central schema (workflow/schemas/config.schema.yaml) and, for each analysis section,
# analyses/<name>/schema.yaml; an error names the key and the file that set it.
try:
    validate_config(config, origin=config_origin(snakemake_configfiles(workflow)))
except ConfigError as error:
    raise WorkflowError(str(error)) from None


wildcard_constraints:
    sample=paths.SAMPLE_REGEX,
    shard=paths.SHARD_REGEX,
    dataset=paths.SAMPLE_REGEX,
    variant=paths.SAMPLE_REGEX,
    analysis=paths.SAMPLE_REGEX,
    run=paths.SAMPLE_REGEX,
    mode="|".join(paths.FINETUNE_MODES),
    seed=r"\d+",
    size=paths.SIZE_REGEX,
    conditions=paths.SAMPLE_REGEX,


include: "workflow/rules/generate.smk"
include: "workflow/rules/convert.smk"
include: "workflow/rules/cms_data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sample.smk"


# Each enabled analysis (config `analyses:`, DESIGN.md "Analyses") brings its rules and its
# target <name>_all.
for _analysis in analyses.enabled(config):

    include: analyses.rules_file(_analysis)


include: "workflow/rules/report.smk"


rule all:
    """Everything the configuration asks for.

    Every reconstruction ntuple (rule generate_all), every dataset with its statistics (rule
    datasets_all), the pretrained model (rule pretrain), the whole result of every enabled
    analysis (rules <name>_all, which request the fine-tunings and predictions they need) and
    the report of them all (rule report, {output_dir}/report/index.html).
    """
    default_target: True
    input:
        rules.generate_all.input,
        rules.datasets_all.input,
        rules.pretrain.output,
        analyses.all_targets(rules, config),
        rules.report.output,
