"""Seeds for shards: every (base seed, sample, shard) gets its own Pythia random stream."""

from __future__ import annotations

import hashlib

# Pythia's Random:seed accepts 1 ... 900_000_000.
PYTHIA_MAX_SEED = 900_000_000


def shard_seed(base_seed: int, sample: str, shard: int) -> int:
    """Seed of one shard, a hash of (base seed, sample, shard) mapped into Pythia's range.

    A hash (not base + shard) keeps samples apart: shard 3 of one process never reuses
    the stream of shard 3 of another. The value is also the ntuple's ``run`` number.
    """
    key = f"{int(base_seed)}/{sample}/{int(shard)}".encode()
    digest = int.from_bytes(hashlib.sha256(key).digest()[:8], "little")
    return 1 + digest % PYTHIA_MAX_SEED
