"""Settings of the qe analysis derived from the rest of the configuration."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from evenet.physics.neutrino import M_TOP, M_W

# Pythia 8's defaults (ParticleData: 6:m0, 24:m0), which our generation does not change.
_DEFAULTS = {"6": M_TOP, "24": M_W}
_SETTING = re.compile(r"^\s*(6|24):m0\s*=\s*([0-9.eE+-]+)\s*$")


def generator_masses(config: Mapping[str, Any]) -> tuple[float, float]:
    """(m_t, m_W) in GeV the generator used: a ``6:m0`` / ``24:m0`` line of
    generation.pythia_settings, else Pythia's defaults (173.0 and 80.385 GeV). The analytic
    neutrino solver takes them as its mass constraints."""
    masses = dict(_DEFAULTS)
    for line in config.get("generation", {}).get("pythia_settings", []):
        found = _SETTING.match(str(line))
        if found:
            masses[found.group(1)] = float(found.group(2))
    return masses["6"], masses["24"]
