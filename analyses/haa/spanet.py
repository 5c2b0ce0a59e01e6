"""SPANet (PyPI `spanet` 2.1.1) on exactly EveNet's training events, through its own CLI in a
pinned environment (analyses/haa/spanet-requirements.txt): no port, no patched files.

    python -m analyses.haa.spanet env --prefix DIR --requirements REQ --status STATUS
    python -m analyses.haa.spanet run --env DIR --dataset D --events LIST --options JSON \
        --workdir W --settings JSON --scores S --info I

`env` builds the virtual environment once and records `status: ok` or `status: not_run` with
the reason (never failing the workflow). `run` exports the train / val / test events to SPANet's
HDF5 layout (INPUTS/Source/{MASK, pt, eta, sin_phi, cos_phi, mass, btag, is_lepton} over the
18 object slots, TARGETS/a{1,2}/b{1,2} with -1 where a b is not an object,
CLASSIFICATIONS/EVENT/signal), writes the event file and the options, runs
`python -m spanet.train` and `python -m spanet.predict`, and reads the prediction back into a
scores file like XGBoost's (signal probability; the predicted a -> bb slots). Where the
environment is not usable, `run` writes an empty scores file and `status: not_run`.

SPANet has no per-event weights: it trains on the same events with `balance_classifications`
(its class balancing) instead of EveNet's class-balanced, cross-section-weighted weights.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from evenet.errors import EvenetError
from evenet.io.predictions import to_numpy
from evenet.io.results import write_json, write_parquet, write_text
from evenet.io.training_events import listed_test_events, training_events

ENERGY, PT, ETA, PHI, BTAG, LEPTON = 0, 1, 2, 3, 4, 5
FEATURES = ("pt", "eta", "sin_phi", "cos_phi", "mass", "btag", "is_lepton")
EVENT_FILE = """\
INPUTS:
  SEQUENTIAL:
    Source:
      mass: log_normalize
      pt: log_normalize
      eta: normalize
      sin_phi: none
      cos_phi: none
      btag: none
      is_lepton: none
EVENT:
  a1: [b1, b2]
  a2: [b1, b2]
PERMUTATIONS:
  EVENT: [[a1, a2]]
  a1: [[b1, b2]]
  a2: [[b1, b2]]
CLASSIFICATIONS:
  EVENT: [signal]
"""
RESONANCES, DAUGHTERS = ("a1", "a2"), ("b1", "b2")
SIGNAL = "signal"


class SpanetError(EvenetError, ValueError):
    """SPANet's inputs or outputs are not what this analysis expects."""


def inputs(x: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """SPANet's Source features of every object slot (zeros where the slot is empty)."""
    x = np.asarray(x, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    p = x[..., PT] * np.cosh(x[..., ETA])
    mass = np.sqrt(np.clip(x[..., ENERGY] ** 2 - p**2, 0.0, None))
    values = {
        "pt": x[..., PT],
        "eta": x[..., ETA],
        "sin_phi": np.sin(x[..., PHI]),
        "cos_phi": np.cos(x[..., PHI]),
        "mass": mass,
        "btag": x[..., BTAG],
        "is_lepton": x[..., LEPTON],
    }
    out = {"MASK": mask}
    out.update({k: np.where(mask, v, 0.0).astype(np.float32) for k, v in values.items()})
    return out


def write_h5(path: Path, x, mask, targets: np.ndarray, signal: np.ndarray) -> None:
    """One SPANet HDF5 file; ``targets`` (E, 2, 2) object slots of (a1, a2) x (b1, b2)."""
    import h5py

    staging = path.with_name(f".{path.name}.tmp")
    with h5py.File(staging, "w") as file:
        for name, values in inputs(x, mask).items():
            file.create_dataset(f"INPUTS/Source/{name}", data=values)
        for r, resonance in enumerate(RESONANCES):
            for d, daughter in enumerate(DAUGHTERS):
                file.create_dataset(
                    f"TARGETS/{resonance}/{daughter}", data=targets[:, r, d].astype(np.int64)
                )
        file.create_dataset("CLASSIFICATIONS/EVENT/signal", data=signal.astype(np.int64))
    os.replace(staging, path)


def read_h5_targets(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(targets (E, 2, 2), signal (E,)) of a SPANet file (ours, or spanet.predict's)."""
    import h5py

    with h5py.File(path, "r") as file:
        targets = np.stack(
            [
                np.stack([file[f"TARGETS/{r}/{d}"][:] for d in DAUGHTERS], axis=1)
                for r in RESONANCES
            ],
            axis=1,
        )
        signal = file["CLASSIFICATIONS/EVENT/signal"][:]
    return targets, signal


def _truth(table: pa.Table, signal_index: int | None = None):
    targets = to_numpy(table["assignment"])[:, :2, :2].astype(np.int64)
    if signal_index is None:
        return targets
    return targets, table["label"].to_numpy() == signal_index


def options_file(settings: dict, files: dict[str, Path], seed: int) -> dict:
    """SPANet's options: explicit epochs, batch size, hidden size and a classification loss."""
    return {
        "event_info_file": str(files["event"]),
        "training_file": str(files["train"]),
        "validation_file": str(files["val"]),
        "hidden_dim": int(settings["hidden_dim"]),
        "transformer_dim": int(settings["hidden_dim"]),
        "epochs": int(settings["epochs"]),
        "batch_size": int(settings["batch_size"]),
        "learning_rate": float(settings["learning_rate"]),
        "classification_loss_scale": float(settings["classification_loss_scale"]),
        "assignment_loss_scale": 1.0,
        "detection_loss_scale": 1.0,
        "balance_classifications": True,
        "partial_events": True,  # background events have no targets: keep them
        "optimizer": "AdamW",  # the default apex_lamb needs NVIDIA apex
        "num_gpu": int(settings.get("num_gpu", 0)),
        "num_dataloader_workers": 1,  # 0 fails: SPANet always passes a prefetch_factor
        "dataset_randomization": int(seed),
        "verbose_output": False,
    }


def export(args, settings: dict) -> dict:
    """Write train.h5, val.h5, test.h5, event.yaml and options.json to the workdir."""
    options = json.loads(args.options)
    seed = int((options.get("training") or {}).get("seed", 1))
    events = training_events(
        args.dataset, options, args.events, args.workdir, ["x", "x_mask", "assignment"]
    )
    if SIGNAL not in events.classes:
        raise SpanetError(f"the dataset has no class {SIGNAL!r} (classes: {events.classes})")
    signal_index = events.classes.index(SIGNAL)
    workdir = Path(args.workdir)
    files = {name: workdir / f"{name}.h5" for name in ("train", "val", "test")}
    files["event"] = workdir / "event.yaml"
    for name in ("train", "val"):
        table = getattr(events, name)
        targets, signal = _truth(table, signal_index)
        write_h5(files[name], to_numpy(table["x"]), to_numpy(table["x_mask"]), targets, signal)
    test = listed_test_events(args.dataset, args.events, ["x", "x_mask", "assignment"])
    label = np.isin(test["process"].to_numpy(), _signal_processes(args.dataset, signal_index))
    write_h5(files["test"], to_numpy(test["x"]), to_numpy(test["x_mask"]), _truth(test), label)
    write_text(files["event"], EVENT_FILE)
    write_json(workdir / "options.json", options_file(settings, files, seed))
    return {"files": files, "test": test, "seed": seed, "events": events}


def _signal_processes(dataset: str, signal_index: int) -> list[int]:
    manifest = json.loads((Path(dataset) / "manifest.json").read_text())
    return [int(p) for p, c in (manifest.get("class_map") or {}).items() if c == signal_index]


def scores_table(test: pa.Table, prediction: Path) -> pa.Table:
    """The test events' ids with SPANet's signal probability and predicted a -> bb slots."""
    import h5py

    with h5py.File(prediction, "r") as file:
        classifications, targets = (_group(file, name) for name in PREDICTION_GROUPS)
        probabilities = file[f"{classifications}/EVENT/signal"][:]
        pairs = np.stack(
            [
                np.stack([file[f"{targets}/{r}/{d}"][:] for d in DAUGHTERS], axis=1)
                for r in RESONANCES
            ],
            axis=1,
        )
    if len(probabilities) != test.num_rows:
        raise SpanetError(
            f"{prediction} holds {len(probabilities)} events, the test file {test.num_rows}"
        )
    score = probabilities[:, 1] if probabilities.ndim == 2 else probabilities
    out = test.select(["sample", "run", "event", "split", "process", "weight"])
    out = out.append_column("score", pa.array(np.asarray(score, np.float32)))
    flat = pa.array(pairs.reshape(len(pairs), 4).astype(np.int16).ravel())
    return out.append_column("pairs", pa.FixedSizeListArray.from_arrays(flat, 4))


# spanet.predict names its groups f"{SpecialKey.X}": on Python >= 3.11 the format of a
# (str, Enum) member is "SpecialKey.X", not its value, so its files hold both spellings.
PREDICTION_GROUPS = {
    "CLASSIFICATIONS": "SpecialKey.Classifications",
    "TARGETS": "SpecialKey.Targets",
}


def _group(file, name: str) -> str:
    for candidate in (name, PREDICTION_GROUPS[name]):
        if candidate in file:
            return candidate
    raise SpanetError(f"{file.filename} has no {name} group (groups: {list(file)})")


def empty_scores() -> pa.Table:
    return pa.table(
        {
            "sample": pa.array([], pa.string()),
            "run": pa.array([], pa.int64()),
            "event": pa.array([], pa.int64()),
            "split": pa.array([], pa.int8()),
            "process": pa.array([], pa.int32()),
            "weight": pa.array([], pa.float32()),
            "score": pa.array([], pa.float32()),
            "pairs": pa.array([], pa.list_(pa.int16(), 4)),
        }
    )


def _python(env: Path) -> Path:
    return Path(env) / "bin" / "python"


def _spanet(env: Path, arguments: list[str], log) -> None:
    """One SPANet CLI call in its environment; its output goes to the log."""
    environment = dict(os.environ)
    # spanet.evaluation calls torch.load on the Lightning checkpoint this run just wrote (not
    # a file from elsewhere); torch >= 2.6 would refuse its non-tensor entries.
    environment["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    environment.pop("PYTHONPATH", None)
    command = [str(_python(env)), "-m", *arguments]
    log(f"[spanet] {' '.join(command)}")
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    log(result.stdout[-4000:] + result.stderr[-4000:])
    if result.returncode:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if re.match(r"^\w+(Error|Exception)\b", line)]
        last = errors[-1:] or lines[-1:]
        raise SpanetError(
            f"{arguments[0]} failed (exit {result.returncode}): {' '.join(last) or 'no output'}"
        )


def env_status(env: Path) -> dict:
    status = Path(env) / "status.json"
    if not status.is_file():
        return {"status": "not_run", "reason": f"no SPANet environment at {env}"}
    return json.loads(status.read_text())


def build_env(prefix: Path, requirements: Path, log=print) -> dict:
    """Create the pinned environment; {status: ok | not_run, reason, packages}."""
    start = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "venv", str(prefix)], check=True)
        pip = [str(_python(prefix)), "-m", "pip", "install", "-q"]
        torch = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
        torch = [r for r in torch if r.startswith("torch==")]
        if torch:  # first, so that nothing pulls another torch build
            subprocess.run([*pip, *torch], check=True, capture_output=True, text=True)
        subprocess.run([*pip, "-r", str(requirements)], check=True, capture_output=True, text=True)
        check = [str(_python(prefix)), "-c", "import spanet.train, spanet.predict"]
        subprocess.run(check, check=True, capture_output=True, text=True)
        freeze = subprocess.run(
            [str(_python(prefix)), "-m", "pip", "freeze"], capture_output=True, text=True
        ).stdout.split()
        status = {"status": "ok", "packages": freeze}
    except (subprocess.CalledProcessError, OSError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        status = {"status": "not_run", "reason": f"building the environment failed: {detail}"}
    status["seconds"] = time.perf_counter() - start
    log(json.dumps({k: v for k, v in status.items() if k != "packages"}))
    return status


def run(args) -> dict:
    settings = json.loads(args.settings)
    status = env_status(Path(args.env))
    if status.get("status") != "ok":
        write_parquet(args.scores, empty_scores())
        info = {"method": "spanet", "status": "not_run", "reason": status.get("reason")}
        write_json(args.info, info)
        return info
    start = time.perf_counter()
    exported = export(args, settings)
    files, workdir = exported["files"], Path(args.workdir)
    logs = workdir / "spanet_logs"
    lines: list[str] = []
    shutil.rmtree(logs, ignore_errors=True)  # a rerun starts a fresh version_0
    batch = int(settings["batch_size"])
    for split in ("train", "val"):
        rows = getattr(exported["events"], split).num_rows
        if rows < batch:  # SPANet drops incomplete batches, in validation too: it would crash
            reason = (
                f"the {split} split holds {rows} events, fewer than SPANet's batch size "
                f"{batch} (it drops incomplete batches, also when validating)"
            )
            return _failed(args, workdir, lines, reason)
    train = ["spanet.train", "-of", str(workdir / "options.json"), "-l", str(logs), "-n", "run"]
    version = logs / "run" / "version_0"
    prediction = workdir / "prediction.h5"
    try:
        _spanet(Path(args.env), [*train, "-r", str(exported["seed"])], lines.append)
        if not list(version.glob("checkpoints/epoch*")):
            raise SpanetError(f"spanet.train left no checkpoint in {version}")
        predict = ["spanet.predict", str(version), str(prediction), "-tf", str(files["test"])]
        _spanet(Path(args.env), predict, lines.append)
    except SpanetError as error:  # SPANet itself failed: recorded, the analysis goes on
        return _failed(args, workdir, lines, str(error))
    write_parquet(args.scores, scores_table(exported["test"], prediction))
    write_text(workdir / "spanet.log", "\n".join(lines))
    info = {
        "method": "spanet",
        "status": "ok",
        "options": json.loads((workdir / "options.json").read_text()),
        "n_params": _parameters(Path(args.env), version),
        "events": {
            "train": exported["events"].train.num_rows,
            "val": exported["events"].val.num_rows,
            "test": exported["test"].num_rows,
        },
        "seconds": time.perf_counter() - start,
    }
    write_json(args.info, info)
    return info


def _failed(args, workdir: Path, lines: list[str], reason: str) -> dict:
    write_text(workdir / "spanet.log", "\n".join(lines))
    write_parquet(args.scores, empty_scores())
    info = {"method": "spanet", "status": "failed", "reason": reason}
    write_json(args.info, info)
    return info


def _parameters(env: Path, version: Path) -> int | None:
    """SPANet's parameter count: its model rebuilt from the run's options.json in its own
    environment (no checkpoint is unpickled for it)."""
    code = (
        "import sys\n"
        "from spanet import JetReconstructionModel, Options\n"
        "model = JetReconstructionModel(Options.load(sys.argv[1]))\n"
        "print(sum(p.numel() for p in model.parameters()))\n"
    )
    result = subprocess.run(
        [str(_python(env)), "-c", code, str(version / "options.json")],
        capture_output=True,
        text=True,
    )
    lines = result.stdout.strip().splitlines()
    return int(lines[-1]) if result.returncode == 0 and lines and lines[-1].isdigit() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SPANet baseline of the haa analysis.")
    commands = parser.add_subparsers(dest="command", required=True)
    env = commands.add_parser("env", help="build the pinned environment")
    env.add_argument("--prefix", required=True, type=Path)
    env.add_argument("--requirements", required=True, type=Path)
    env.add_argument("--status", required=True, type=Path, help="status.json to write")
    train = commands.add_parser("run", help="export, train, predict, read back")
    train.add_argument("--env", required=True, help="the environment folder (env --prefix)")
    train.add_argument("--dataset", required=True)
    train.add_argument("--events", required=True)
    train.add_argument("--options", required=True, help="the fine-tuning's options (JSON)")
    train.add_argument("--workdir", required=True, type=Path)
    train.add_argument("--settings", required=True, help="JSON: analyses.haa.spanet")
    train.add_argument("--scores", required=True, type=Path)
    train.add_argument("--info", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.command == "env":
        write_json(args.status, build_env(args.prefix, args.requirements))
        return 0
    try:
        args.workdir.mkdir(parents=True, exist_ok=True)
        info = run(args)
    except EvenetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({k: v for k, v in info.items() if k != "options"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
