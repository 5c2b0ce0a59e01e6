"""Torch datasets and loaders: streaming Parquet shards, DDP-aware, resumable mid-epoch."""

from evenet.data.dataset import ShardDataset
from evenet.data.loader import ShardLoader, make_loader
from evenet.data.plan import Plan
from evenet.data.reader import DataError

__all__ = ["DataError", "Plan", "ShardDataset", "ShardLoader", "make_loader"]
