"""The generator masses the analytic solver takes from the configuration."""

from __future__ import annotations

from analyses.qe.settings import generator_masses


def test_pythia_defaults_unless_the_settings_change_them():
    """Guards the masses: Pythia's defaults, or a 6:m0 / 24:m0 line of pythia_settings."""
    assert generator_masses({}) == (173.0, 80.385)
    config = {"generation": {"pythia_settings": ["Beams:eCM = 13000.", " 6:m0 = 172.5 "]}}
    assert generator_masses(config) == (172.5, 80.385)
    config["generation"]["pythia_settings"].append("24:m0=80.4")
    assert generator_masses(config) == (172.5, 80.4)
