"""Shared fixtures: Pythia samples are generated once per test session and reused."""

from __future__ import annotations

from pathlib import Path

import pytest
import uproot

from evenet.catalogue import get_process
from evenet.config import default_config_path, load_config
from evenet.generation.generate import generate_shard
from evenet.io.convert import convert_sample
from evenet.io.dataset import build_dataset

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"test data directory {DATA} is missing (../shared/data beside the repo)")
    return DATA


@pytest.fixture(scope="session")
def base_config() -> dict:
    return load_config([default_config_path()])


class SampleCache:
    """Generates (process, events, seed) once and hands out the file and its arrays."""

    def __init__(self, root: Path, config: dict):
        self.root, self.config, self._done = root, config, {}

    def path(self, process: str, events: int, seed: int = 7) -> Path:
        key = (process, events, seed)
        if key not in self._done:
            out = self.root / f"{process}_{events}_{seed}.root"
            generate_shard(get_process(process), events, seed, out, self.config, progress=False)
            self._done[key] = out
        return self._done[key]

    def events(self, process: str, events: int, seed: int = 7):
        with uproot.open(self.path(process, events, seed)) as f:
            return f["Events"].arrays()


@pytest.fixture(scope="session")
def samples(tmp_path_factory, base_config) -> SampleCache:
    return SampleCache(tmp_path_factory.mktemp("samples"), base_config)


@pytest.fixture(scope="session")
def pythia_dataset(tmp_path_factory, samples, base_config):
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
