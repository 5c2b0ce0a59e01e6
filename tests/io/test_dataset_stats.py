"""Datasets over converted samples and their normalisation statistics."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from evenet.io.columns import to_numpy
from evenet.io.convert import convert_sample
from evenet.io.dataset import build_dataset, parse_classes
from evenet.io.manifest import ManifestError
from evenet.io.stats import compute_stats, write_stats


@pytest.fixture(scope="module")
def converted(tmp_path_factory, samples, base_config):
    """ttbar_dilepton converted from a generated shard, and the CMS file without truth."""
    root = tmp_path_factory.mktemp("converted")
    tt = convert_sample(
        [samples.path("ttbar_dilepton", 400)],
        root / "ttbar_dilepton",
        "ttbar_dilepton",
        base_config,
        log=lambda _: None,
    )
    return root, tt


def test_generated_ttbar_gets_dilepton_targets(converted):
    root, manifest = converted
    assert manifest["has_targets"] and manifest["counts"].keys() == {"1"}
    import pyarrow.parquet as pq

    table = pq.read_table(root / "ttbar_dilepton" / manifest["shards"][0]["path"])
    assert set(table.column("topology").to_numpy()) == {1}
    assignment = to_numpy(table.column("assignment"))
    # b jets and leptons of both tops are found for most events (matching + acceptance).
    assert (assignment[:, :2, :2] >= 0).mean() > 0.6
    nu_mask = to_numpy(table.column("neutrinos_mask"))
    assert nu_mask.all()


def test_stats_use_training_split_only_and_skip_padding(converted):
    """Guards against statistics polluted by padded slots or by validation/test events."""
    root, manifest = converted
    import pyarrow.parquet as pq

    table = pq.read_table(root / "ttbar_dilepton" / manifest["shards"][0]["path"])
    split = table.column("split").to_numpy()
    x = to_numpy(table.column("x"))[split == 0]
    mask = to_numpy(table.column("x_mask"))[split == 0]
    stats = compute_stats(root / "ttbar_dilepton")
    assert stats["events"] == int((split == 0).sum())
    log_pt = np.log1p(x[..., 1][mask])
    assert stats["x"]["mean"][1] == pytest.approx(log_pt.mean(), rel=1e-5)
    assert stats["x"]["std"][1] == pytest.approx(log_pt.std(), rel=1e-4)
    assert stats["x"]["periodic"][3] and stats["x"]["mean"][3] == 0.0  # φ is not standardised
    written = write_stats(root / "ttbar_dilepton")
    assert json.loads((root / "ttbar_dilepton" / "stats.json").read_text()) == written


def test_dataset_lists_shards_and_class_map(converted, data_dir, tmp_path, base_config):
    root, _ = converted
    cms = convert_sample(
        [data_dir / "nanoAOD_2015_CMS_Open_Data_ttbar.root"],
        tmp_path / "cms",
        "cms",
        base_config,
        log=lambda _: None,
    )
    classes = parse_classes(
        ["top=ttbar_dilepton+ttbar_inclusive"], {"ttbar_dilepton": 1, "ttbar_inclusive": 10}
    )
    dataset = build_dataset(
        "mix", [root / "ttbar_dilepton", tmp_path / "cms"], tmp_path / "ds", classes
    )
    assert dataset["class_map"] == {"1": 0, "10": 0} and dataset["classes"] == ["top"]
    assert dataset["has_targets"] is False  # the CMS sample has no truth
    assert len(dataset["shards"]) == 2 and cms["counts"]["-1"] == dataset["counts"]["-1"]
    for shard in dataset["shards"]:
        assert (tmp_path / "ds" / shard["path"]).resolve().is_file()


def test_dataset_refuses_samples_converted_differently(converted, data_dir, tmp_path, base_config):
    root, _ = converted
    other = copy.deepcopy(base_config)
    other["conversion"]["jets"]["min_pt_gev"] = 30.0
    convert_sample(
        [data_dir / "nanoAOD_2015_CMS_Open_Data_ttbar.root"],
        tmp_path / "cms",
        "cms",
        other,
        log=lambda _: None,
    )
    with pytest.raises(ManifestError, match="different 'conversion'"):
        build_dataset("bad", [root / "ttbar_dilepton", tmp_path / "cms"], tmp_path / "ds")
    assert not (tmp_path / "ds").exists()  # nothing written on refusal


def test_unknown_class_process_is_named():
    with pytest.raises(ManifestError, match="nope"):
        parse_classes(["nope"], {"ttbar_dilepton": 1})


def test_a_sample_listed_twice_or_a_sample_folder_as_output_is_refused(converted, tmp_path):
    """Guards against issue 12 §3: `--samples pc/x pc/x` counted every event twice, and
    `--output pc/x` replaced the sample's own manifest with a dataset manifest."""
    root, _ = converted
    sample = root / "ttbar_dilepton"
    with pytest.raises(ManifestError, match="lists a sample twice"):
        build_dataset("twice", [sample, sample / "manifest.json"], tmp_path / "ds")
    before = (sample / "manifest.json").read_text()
    with pytest.raises(ManifestError, match="no dataset manifest.json"):
        build_dataset("over", [sample], sample)
    assert (sample / "manifest.json").read_text() == before
    build_dataset("ok", [sample], tmp_path / "ds")
    build_dataset("ok", [sample], tmp_path / "ds")  # an earlier dataset may be rebuilt
    (tmp_path / "ds" / "manifest.json").unlink()  # as Snakemake does before rerunning the rule
    (tmp_path / "ds" / "stats.json").write_text("{}")
    build_dataset("ok", [sample], tmp_path / "ds")
