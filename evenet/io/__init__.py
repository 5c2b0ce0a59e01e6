"""Readers (our ntuples, CMS NanoAOD, Delphes, tables), point clouds, Parquet shards, manifests."""
