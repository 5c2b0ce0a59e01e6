"""EveNet pipeline: event generation, point clouds, a Point-Edge Transformer foundation model."""

__version__ = "0.1.0"
# Version of the data contract in DESIGN.md (ntuple branches, point-cloud columns);
# bump it on any change.
SCHEMA_VERSION = 3
