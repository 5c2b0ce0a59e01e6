"""Fixtures the analyses' tests share with tests/ (Pythia samples generated once per session)."""

from tests.conftest import base_config, data_dir, samples  # noqa: F401
