"""Fixtures the analyses' tests share with tests/ (Pythia samples generated once per session,
and converted datasets built from them)."""

from tests.conftest import base_config, data_dir, pythia_dataset, samples  # noqa: F401
