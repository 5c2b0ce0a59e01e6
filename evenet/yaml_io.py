"""Safe YAML parsing through libyaml's C loader when PyYAML was built with it.

The C loader parses our config, catalogue and topology files ~10× faster than the pure-Python
one (~0.15 s per conversion otherwise); both only build plain Python values (no tags).
"""

from __future__ import annotations

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text_or_stream):
    """``yaml.safe_load`` semantics with the fastest safe loader available."""
    return yaml.load(text_or_stream, Loader=_LOADER)  # noqa: S506 - a safe loader
