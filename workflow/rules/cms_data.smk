# Real CMS Open Data (config `cms_data`): per entry, the file list and golden JSON (checkpoint
# cms_inputs: the record's listing is known only at run time), one skim job per file
# (evenet skim-dimuon, coffea), and the conversion of all skims into two samples,
# <name>_os and <name>_ss, that `datasets` can list like generated ones.

import json
from pathlib import Path

from evenet import job_options, paths
from evenet.config import data_samples


_data_samples = data_samples(config)
_SIGN_FILES = {"os": "opposite_sign", "ss": "same_sign"}  # evenet skim-dimuon's outputs
_SKIM_FORMAT = Path(workflow.basedir) / "config" / "table_formats" / "dimuon_skim.yaml"


checkpoint cms_inputs:
    """The NanoAOD file list and golden JSON of one cms_data entry.

    Wildcards:
        name: a key of cms_data
    """
    params:
        options=lambda wc: json.dumps(config["cms_data"][wc.name], sort_keys=True),
    output:
        **paths.cms_inputs_pattern(config),
    log:
        paths.named_log_pattern(config, "cms_inputs", "name"),
    resources:
        runtime=15,
        mem_mb=1000,
    shell:
        "evenet cms-inputs --options {params.options:q} --files {output.files:q}"
        " --golden {output.golden:q} > {log:q} 2>&1"


def _cms_file(wildcards):
    """The file number `index` of an entry's list (known once cms_inputs has run)."""
    listing = checkpoints.cms_inputs.get(name=wildcards.name).output.files
    from evenet.io.cms_inputs import read_file_list

    return read_file_list(listing)[int(wildcards.index)]


rule cms_skim:
    """The dimuon skim of one NanoAOD file (certified lumi sections, trigger, two leading tight
    muons with pT > 17 / 8 GeV, both anti-isolated; opposite and same sign).

    Wildcards:
        name: a key of cms_data
        index: the file's number in the entry's list
    """
    input:
        files=paths.cms_inputs_pattern(config)["files"],
        golden=paths.cms_inputs_pattern(config)["golden"],
    params:
        source=_cms_file,
        trigger=lambda wc: config["cms_data"][wc.name]["trigger"],
    wildcard_constraints:
        index=r"\d+",
    output:
        directory(paths.cms_skim_pattern(config)),
    log:
        paths.named_log_pattern(config, "cms_skim", "name", "index"),
    benchmark:
        paths.named_benchmark_pattern(config, "cms_skim", "name", "index")
    resources:
        runtime=60,  # minutes; a 2016H DoubleMuon file is a few GB read over XRootD
        mem_mb=6000,
    shell:
        "evenet skim-dimuon --input {params.source:q} --output {output:q}"
        " --golden-json {input.golden:q} --trigger {params.trigger:q} > {log:q} 2>&1"


def _cms_skims(wildcards):
    name = _data_samples[wildcards.sample][0]
    listing = checkpoints.cms_inputs.get(name=name).output.files
    from evenet.io.cms_inputs import read_file_list

    return paths.cms_skims(config, name, len(read_file_list(listing)))


rule cms_pointclouds:
    """One sign of a cms_data entry's skims, converted (the table reader) with a variant.

    Wildcards:
        variant: the dataset's conversion variant
        sample: <name>_os or <name>_ss of a cms_data entry
    """
    input:
        _cms_skims,
    params:
        options=lambda wc: job_options.to_param(
            job_options.convert(config, wc.sample, wc.variant)
        ),
        tables=lambda wc, input: [
            str(Path(folder) / f"{_SIGN_FILES[_data_samples[wc.sample][1]]}.parquet")
            for folder in input
        ],
        table_format=str(_SKIM_FORMAT),
    wildcard_constraints:
        sample="|".join(_data_samples) or "(?!x)x",  # no cms_data: matches nothing
    output:
        directory(paths.pointcloud_dir_pattern(config)),
    log:
        paths.named_log_pattern(config, "cms_pointclouds", "variant", "sample"),
    benchmark:
        paths.named_benchmark_pattern(config, "cms_pointclouds", "variant", "sample")
    resources:
        runtime=30,
        mem_mb=4000,
    shell:
        "evenet convert --format table --table-format {params.table_format:q}"
        " --input {params.tables:q} --output {output:q} --options {params.options:q}"
        " > {log:q} 2>&1"
