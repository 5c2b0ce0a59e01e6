"""Model checkpoints: everything needed to rebuild the model, as plain values and tensors.

A checkpoint holds the model config, the normalisation statistics, the topology list, the
class map, the conversion config, the dataset schema version and feature lists, and the
weights. It is written atomically and read with ``torch.load(weights_only=True)`` (a
checkpoint is untrusted input: nothing in it is executed).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from evenet import SCHEMA_VERSION, __version__
from evenet.io.schema import GLOBAL_FEATURES, OBJECT_FEATURES
from evenet.io.temporaries import remove_stale
from evenet.io.temporaries import temporary as temporary_name
from evenet.model.config import ModelConfig
from evenet.model.errors import CheckpointError, ModelConfigError
from evenet.model.model import EveNet

FORMAT = "evenet-checkpoint"
FORMAT_VERSION = 1


def features(model: EveNet | None = None) -> dict[str, list[str]]:
    """The input feature lists a model was trained on (checked against datasets): x,
    globals and, for a model with extra inputs, their x_extra / globals_extra names."""
    found = {"x": list(OBJECT_FEATURES), "globals": list(GLOBAL_FEATURES)}
    if model is not None and model.config.x_extra:
        found["x_extra"] = list(model.config.x_extra)
    if model is not None and model.config.globals_extra:
        found["globals_extra"] = list(model.config.globals_extra)
    return found


def checkpoint_payload(
    model: EveNet,
    *,
    stats: dict,
    class_map: dict | None = None,
    conversion: dict | None = None,
    extra: dict | None = None,
) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "code_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "features": features(model),
        "model_config": model.config.to_dict(),
        "stats": stats,
        "topologies": model.topologies,
        "class_map": {str(k): int(v) for k, v in (class_map or {}).items()},
        "conversion": conversion or {},
        "state_dict": model.state_dict(),
        "extra": extra or {},
    }


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write ``payload`` to ``path`` through a temporary file (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)  # e.g. the 0-byte .last.pt.PID.tmp of a killed run
    temporary = temporary_name(path)
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): an interrupted write?")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # unpickling errors come in many types
        raise CheckpointError(f"checkpoint {path} cannot be read: {_reason(error)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an EveNet checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {payload.get('format_version')}, "
            f"this code reads {FORMAT_VERSION}"
        )
    return payload


def _reason(error: Exception) -> str:
    """The loader's reason in one line, without torch's advice to load with weights_only=False
    (which would run arbitrary code from an untrusted file: never suggested here)."""
    text = str(error).strip()
    if "weights_only" in text:
        return (
            "it holds objects other than tensors and plain values (not an EveNet checkpoint, "
            "or a tampered one); it is not loaded"
        )
    if isinstance(error, (KeyError, EOFError)) or not text:
        # torch's unpickler meets bytes that are no pickle: a KeyError on an opcode, EOF
        return f"not a PyTorch checkpoint, or a truncated one ({type(error).__name__} {text})"
    return text.splitlines()[0]


def check_compatible(payload: dict, manifest: dict, where: str = "checkpoint") -> None:
    """Refuse a dataset whose schema version or input features differ from the model's."""
    if manifest.get("schema_version") != payload["schema_version"]:
        raise CheckpointError(
            f"{where} was trained on dataset schema version {payload['schema_version']}, "
            f"the dataset has {manifest.get('schema_version')}: reconvert the dataset or use a "
            "matching checkpoint"
        )
    columns = {c["name"]: c for c in manifest.get("columns", [])}
    for group, names in payload["features"].items():
        found = columns.get(group, {}).get("features")
        if group in ("x_extra", "globals_extra"):  # their names are the manifest's lists
            found = list(manifest.get(group) or [])
        if found != names:
            raise CheckpointError(
                f"{where} expects {group} features {names}, the dataset has {found}"
            )


def from_checkpoint(
    path: str | os.PathLike, manifest: dict | None = None, map_location="cpu"
) -> tuple[EveNet, dict]:
    """Rebuild the model from the checkpoint alone (and check it against ``manifest``)."""
    payload = load_checkpoint(path, map_location)
    if manifest is not None:
        check_compatible(payload, manifest, where=str(path))
    try:
        config = ModelConfig.from_dict(payload["model_config"])
        model = EveNet(config, payload["stats"], payload["topologies"])
    except (KeyError, ModelConfigError) as error:
        raise CheckpointError(f"{path}: cannot rebuild the model: {error}") from None
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not fit the stored config: {error}") from None
    return model, payload
