"""Real CMS Open Data samples (config `cms_data`): the inputs command, and the workflow's
chain from a NanoAOD file to a dataset (checkpoint cms_inputs -> cms_skim per file ->
cms_pointclouds per sign -> dataset), run for real on the 40 events of nano_dimuon.root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import uproot

from evenet.io.cms_inputs import CmsInputError, read_file_list, resolve_files, write_inputs
from evenet.io.manifest import load_manifest

REPO = Path(__file__).resolve().parents[2]


def _golden(path: Path, nano: Path) -> Path:
    """A golden JSON certifying every luminosity section of the file's runs."""
    runs = np.unique(uproot.open(nano)["Events"]["run"].array(library="np"))
    path.write_text(json.dumps({str(int(r)): [[1, 100000]] for r in runs}))
    return path


def test_inputs_from_listed_files_and_a_local_golden_json(tmp_path, data_dir):
    nano = data_dir / "nano_dimuon.root"
    golden = _golden(tmp_path / "g.json", nano)
    options = {"record": 1, "files": [str(nano), "root://x//a.root"], "golden_json": str(golden)}
    write_inputs(options, tmp_path / "files.txt", tmp_path / "golden.json")
    assert read_file_list(tmp_path / "files.txt") == [str(nano), "root://x//a.root"]
    assert json.loads((tmp_path / "golden.json").read_text()) == json.loads(golden.read_text())


def test_bad_inputs_are_named(tmp_path, monkeypatch):
    (tmp_path / "bad.json").write_text('{"run": "everything"}')
    with pytest.raises(CmsInputError, match="is not a golden JSON"):
        write_inputs({"record": 1, "files": ["a.root"], "golden_json": str(tmp_path / "bad.json")},
                     tmp_path / "f.txt", tmp_path / "g.json")  # fmt: skip
    assert not (tmp_path / "f.txt").exists()
    monkeypatch.setattr("shutil.which", lambda _: None)
    with pytest.raises(CmsInputError, match="pip install cernopendata-client"):
        resolve_files(30555, [])


def test_workflow_turns_a_nanoaod_file_into_a_dataset(tmp_path, data_dir):
    nano = data_dir / "nano_dimuon.root"
    override = tmp_path / "data.yaml"
    override.write_text(
        json.dumps(
            {
                "cms_data": {
                    "nano": {
                        "record": 1,
                        "files": [str(nano)],
                        "golden_json": str(_golden(tmp_path / "golden.json", nano)),
                        "trigger": "none",  # a 2018 file: 2016H's trigger is absent
                    }
                },
                "datasets": {
                    "nano_data": {"samples": ["nano_os", "nano_ss"], "variant": "anomaly"}
                },
            }
        )
    )
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE_")}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-j1", "--directory", str(tmp_path / "w")]
        + ["--configfile", "config/config.yaml", str(override)]
        + ["--config", f"output_dir={out}", "--", str(out / "datasets/nano_data/manifest.json")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    manifest = load_manifest(out / "datasets" / "nano_data")
    # test_cms_dimuon.py: 5 opposite-sign and 1 same-sign anti-isolated pairs in this file
    assert {s: v["events"] for s, v in manifest["samples"].items()} == {"nano_os": 5, "nano_ss": 1}
    assert manifest["x_extra"] == ["iso", "ip3d"]
    cutflow = json.loads((out / "cms" / "nano" / "skims" / "0" / "cutflow.json").read_text())
    assert cutflow


def test_the_2016h_overlay_plans_the_data_search(tmp_path):
    """config/cms_2016h.yaml validates and schedules the data chain (nothing is fetched in a
    dry run: the file list is a checkpoint)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE_")}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--directory", str(tmp_path / "w")]
        + ["--configfile", "config/config.yaml", "config/cms_2016h.yaml"]
        + ["--config", f"output_dir={tmp_path / 'o'}", "--", "anomaly_all"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    for rule in ("cms_inputs", "cms_pointclouds", "anomaly_select", "anomaly_summary"):
        assert f"rule {rule}:" in output or f"{rule} " in output
    assert "sr_data" in output  # the one search of real data
