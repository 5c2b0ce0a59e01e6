"""The process catalogue (evenet/catalogue.py) and what manifests record of it."""

from __future__ import annotations

import ast
from pathlib import Path

from evenet.catalogue import load_catalogue, manifest_record
from evenet.train.trainer import dataset_topologies

PACKAGE = Path(__file__).resolve().parents[1] / "evenet"


def test_manifest_record_names_every_process_with_its_category():
    catalogue = load_catalogue()
    record = manifest_record(catalogue)
    assert len(record) == len(catalogue)
    for name, process in catalogue.items():
        assert record[str(process.id)] == {"name": name, "category": process.category}


def test_training_reads_topologies_and_names_from_the_dataset_not_the_checkout():
    """Guards against a run that depends on config/ of the checkout: a manifest whose process
    and topology names are not in the repository's files still selects its heads."""
    manifest = {
        "processes": {"1": {"name": "renamed", "category": "x"}, "2": {"name": "other"}},
        "counts": {"1": [10, 1, 1]},
        "topologies": [
            {"id": 1, "name": "mine", "processes": ["renamed"]},
            {"id": 2, "name": "theirs", "processes": ["other"]},
        ],
    }
    assert [t["name"] for t in dataset_topologies(manifest)] == ["mine"]


def test_io_and_training_do_not_import_the_generation_stack():
    """Conversion, datasets and training read the catalogue from evenet.catalogue or the
    manifest; evenet.generation (Pythia, fastjet) stays a generation-only dependency."""
    offending = []
    for folder in ("io", "data", "train", "model"):
        for path in (PACKAGE / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "evenet.generation"
                ):
                    offending.append(f"{path.relative_to(PACKAGE)}: {node.module}")
    assert not offending, offending
