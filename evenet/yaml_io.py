"""Safe YAML parsing through libyaml's C loader when PyYAML was built with it.

The C loader parses our config, catalogue and topology files ~10× faster than the pure-Python
one (~0.15 s per conversion otherwise); both only build plain Python values (no tags).
"""

from __future__ import annotations

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text_or_stream):
    """``yaml.safe_load`` semantics with the fastest safe loader available (the safe loaders
    construct plain Python values only; no tags, no objects)."""
    loader = _LOADER(text_or_stream)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
