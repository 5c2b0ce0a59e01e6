"""Benchmarks behind `evenet bench ...` (evenet/bench/cli.py): each returns one flat dict,
printed as one JSON object with --json. generate/convert: stages.py; loader: loader.py;
model: model.py; train: train.py."""
