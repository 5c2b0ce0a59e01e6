"""XGBoost on the haa features (analyses/haa/features.py), trained on exactly the events and
weights EveNet's fine-tuning of the same (run, size, seed) uses (evenet.io.training_events).

300 trees of depth 3, learning rate 0.1, subsample 0.7, early stopping after 10 rounds without
improvement of the weighted log-loss on the validation split (issue 15). Scores the listed
test events of the parent dataset and writes them with the |m12 - m34| pairing of each event
(a baseline pairing for the purity table):

    python -m analyses.haa.bdt --dataset D --events selected.parquet --options JSON \
        --workdir DIR --scores scores.parquet --info info.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from analyses.haa.features import NAMES, features, leading_jets, pair_jets
from evenet.errors import EvenetError
from evenet.io.predictions import to_numpy
from evenet.io.results import write_json, write_parquet
from evenet.io.training_events import listed_test_events, training_events

SIGNAL = "signal"
PARAMETERS = {
    "n_estimators": 300,
    "max_depth": 3,
    "learning_rate": 0.1,
    "subsample": 0.7,
    "early_stopping_rounds": 10,
    "tree_method": "hist",
    "eval_metric": "logloss",
}


class BdtError(EvenetError, ValueError):
    """The XGBoost baseline cannot be trained as asked."""


def _inputs(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    x, mask = to_numpy(table["x"]), to_numpy(table["x_mask"])
    return features(x, mask), pair_jets(x, leading_jets(x, mask))


def train(train: pa.Table, val: pa.Table, signal: int, seed: int, threads: int):
    """(classifier, early-stopping note): xgboost.XGBClassifier on class ``signal`` vs the
    rest, stopped early on the validation split when it holds both classes (at local scale it
    may not: then all 300 trees are kept, and the note says why)."""
    import xgboost

    labels = train["label"].to_numpy() == signal
    if labels.all() or not labels.any():
        raise BdtError(f"the training events need signal and background ({len(labels)} events)")
    x_train, _ = _inputs(train)
    val_labels = val["label"].to_numpy() == signal
    usable = val_labels.any() and not val_labels.all()
    parameters = dict(PARAMETERS)
    note = "on the validation split"
    fit = {}
    if usable:
        x_val, _ = _inputs(val)
        fit = {
            "eval_set": [(x_val, val_labels)],
            "sample_weight_eval_set": [val["train_weight"].to_numpy()],
        }
    else:
        del parameters["early_stopping_rounds"]
        note = (
            f"off: the validation split ({len(val_labels)} events, {int(val_labels.sum())} "
            "signal) lacks a class"
        )
    model = xgboost.XGBClassifier(**parameters, random_state=seed, n_jobs=threads)
    model.fit(x_train, labels, sample_weight=train["train_weight"].to_numpy(), verbose=False, **fit)
    return model, note


def _best_iteration(model) -> int:
    """The last tree used for predictions (all of them without early stopping)."""
    try:
        return int(model.best_iteration)
    except AttributeError:  # no evaluation set: every tree is used
        return int(model.get_booster().num_boosted_rounds()) - 1


def n_parameters(model) -> int:
    """Nodes of every tree up to the best iteration (split thresholds and leaf values)."""
    frame = model.get_booster().trees_to_dataframe()
    return int((frame["Tree"] <= _best_iteration(model)).sum())


def run(args) -> dict:
    options = json.loads(args.options)
    seed = int((options.get("training") or {}).get("seed", 1))
    start = time.perf_counter()
    events = training_events(args.dataset, options, args.events, args.workdir)
    if SIGNAL not in events.classes:
        raise BdtError(f"the dataset has no class {SIGNAL!r} (classes: {events.classes})")
    signal = events.classes.index(SIGNAL)
    model, early_stopping = train(events.train, events.val, signal, seed, args.threads)
    test = listed_test_events(args.dataset, args.events, ["x", "x_mask"])
    x_test, pairs = _inputs(test)
    score = model.predict_proba(x_test)[:, 1]
    out = test.select(["sample", "run", "event", "split", "process", "weight"])
    out = out.append_column("score", pa.array(score.astype(np.float32)))
    flat = pa.array(pairs.reshape(len(pairs), 4).astype(np.int16).ravel())
    out = out.append_column("pairs", pa.FixedSizeListArray.from_arrays(flat, 4))
    write_parquet(args.scores, out)
    gain = model.get_booster().get_score(importance_type="gain")
    info = {
        "method": "xgboost",
        "parameters": PARAMETERS,
        "seed": seed,
        "features": list(NAMES),
        "n_params": n_parameters(model),
        "best_iteration": _best_iteration(model),
        "early_stopping": early_stopping,
        "events": {
            "train": events.train.num_rows,
            "val": events.val.num_rows,
            "test": test.num_rows,
            "train_signal": int((events.train["label"].to_numpy() == signal).sum()),
        },
        "gain": {NAMES[int(k[1:])]: float(v) for k, v in gain.items()},
        "seconds": time.perf_counter() - start,
    }
    write_json(args.info, info)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="XGBoost baseline of the haa analysis.")
    parser.add_argument("--dataset", required=True, help="the run's (parent) dataset folder")
    parser.add_argument("--events", required=True, help="the selected-events list (Parquet)")
    parser.add_argument("--options", required=True, help="the fine-tuning's options (JSON)")
    parser.add_argument("--workdir", required=True, type=Path, help="selected-dataset folder")
    parser.add_argument("--scores", required=True, type=Path, help="test scores (Parquet)")
    parser.add_argument("--info", required=True, type=Path, help="model summary (JSON)")
    parser.add_argument("--threads", type=int, default=1, help="XGBoost threads")
    args = parser.parse_args(argv)
    try:
        info = run(args)
    except EvenetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
