"""The EveNet model: Point-Edge Transformer body, multi-task heads, presets, checkpoints.

Names are imported lazily so that `evenet.model.errors` and `evenet.model.config` load
without torch (the command line imports them around every command).
"""

from importlib import import_module

_EXPORTS = {
    "EveNet": "evenet.model.model",
    "ModelConfig": "evenet.model.config",
    "PRESETS": "evenet.model.config",
    "preset": "evenet.model.config",
    "ModelConfigError": "evenet.model.errors",
    "CheckpointError": "evenet.model.errors",
    "from_checkpoint": "evenet.model.checkpoint",
    "save_checkpoint": "evenet.model.checkpoint",
    "checkpoint_payload": "evenet.model.checkpoint",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'evenet.model' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
