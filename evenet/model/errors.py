"""Model and training errors, importable without torch (the CLI catches them around every
command)."""

from evenet.errors import EvenetError


class ModelConfigError(EvenetError, ValueError):
    """An unknown preset or key, or a value the model cannot be built with."""


class CheckpointError(EvenetError, ValueError):
    """A checkpoint is unreadable, incomplete, or does not fit the data it is used with."""


class TrainingError(EvenetError, RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); nothing after the last good
    checkpoint was saved."""
