"""Train/val/test split by a hash of (sample, run, event): independent of file order and sharding.

u = splitmix64(crc32(sample) · 2³² XOR run · 2²⁰ XOR event) / 2⁶⁴ (wrapping uint64), compared
with the cumulative split fractions (DESIGN.md). splitmix64(x) is Vigna's finaliser applied to
x + 0x9E3779B97F4A7C15, i.e. the first output of a SplitMix64 generator seeded with x.
"""

from __future__ import annotations

import zlib

import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    z = np.asarray(x, dtype=np.uint64) + _GAMMA  # uint64 arithmetic wraps modulo 2^64
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def split_key(sample: str, run: np.ndarray, event: np.ndarray) -> np.ndarray:
    sample_hash = np.uint64(zlib.crc32(sample.encode())) << np.uint64(32)
    run_bits = np.asarray(run, dtype=np.int64).view(np.uint64) << np.uint64(20)
    event_bits = np.asarray(event, dtype=np.int64).view(np.uint64)
    return sample_hash ^ run_bits ^ event_bits


def _uniform(key: np.ndarray) -> np.ndarray:
    """Top 53 bits of splitmix64(key) -> a double in [0, 1) exactly."""
    return (splitmix64(key) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def event_uniform(samples: np.ndarray, run: np.ndarray, event: np.ndarray, salt: int) -> np.ndarray:
    """A fixed number in [0, 1) per event, independent of the split's (another ``salt`` gives
    an independent stream): orders events for nested subsets and re-splits."""
    samples = np.asarray(samples).astype(str)
    out = np.empty(len(samples), dtype=np.float64)
    for name in np.unique(samples):
        rows = samples == name
        key = split_key(name, np.asarray(run)[rows], np.asarray(event)[rows])
        out[rows] = _uniform(key ^ splitmix64(np.array([salt], dtype=np.uint64)))
    return out


def assign_split(sample: str, run: np.ndarray, event: np.ndarray, fractions) -> np.ndarray:
    """0 (train), 1 (val) or 2 (test) per event, as int8."""
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.shape != (3,) or np.any(fractions < 0) or abs(fractions.sum() - 1.0) > 1e-9:
        raise ValueError(
            f"split fractions must be three non-negative numbers summing to 1, got {fractions}"
        )
    u = _uniform(split_key(sample, run, event))
    edges = np.cumsum(fractions)[:2]
    return np.searchsorted(edges, u, side="right").astype(np.int8)
