"""Fixtures the analyses' tests share with tests/ (Pythia samples generated once per session),
and converted datasets built from them."""

from __future__ import annotations

import pytest

from evenet.io.convert import convert_sample
from evenet.io.dataset import build_dataset
from tests.conftest import base_config, data_dir, samples  # noqa: F401


@pytest.fixture(scope="session")
def pythia_dataset(tmp_path_factory, samples, base_config):  # noqa: F811
    """``make(process, events)``: a one-sample dataset of ``events`` generated Pythia events
    of ``process``, converted once per session."""
    made = {}

    def make(process: str, events: int):
        if (process, events) not in made:
            root = tmp_path_factory.mktemp(f"dataset_{process}")
            convert_sample(
                [samples.path(process, events)],
                root / "sample",
                process,
                base_config,
                log=lambda _: None,
            )
            build_dataset(process, [root / "sample"], root / "dataset")
            made[process, events] = root / "dataset"
        return made[process, events]

    return make
