"""Conditional event generation with a fine-tuned model (`evenet sample`).

`conditions` says what a checkpoint generates and which condition columns it needs, and
reads them; `events` turns generated slots into point clouds (discrete features rounded,
globals recomputed as the converter computes them); `sample` runs the chain and writes the
Parquet file.
"""
