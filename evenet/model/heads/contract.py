"""The one contract every head follows, and the registry that maps task names to heads.

A head is an `nn.Module` subclass of `Head`, registered under its task name with `register`:

    @register("classification", columns=("label",))
    def _build(ctx: BuildContext) -> Head: ...

The model builds each configured task's head from the registry, hands every head the
encoding of the copy it reads and a `LossContext`, and calls nothing head-specific; prediction
writes the columns each head declares. A new head is one module (and an import that runs its
`register`): no edit of the model, the losses, the trainer or prediction.

Contract (all methods but `training_loss` have defaults):

* ``training_loss(enc, ctx) -> Tensor``: the scalar loss term of the task (events weighted by
  ``ctx.weight`` when given), from the encoding of its copy.
* ``corrupt(inputs, clean, ctx) -> state``: heads with ``reads_noised`` edit the noised copy's
  body inputs in place (diffusion states, noise levels) and return what their loss needs; the
  model passes it back as ``ctx.state``. A head registered with ``own_copy`` gets a private
  copy of the clean inputs to corrupt (e.g. one that hides what the shared noised copy keeps),
  encoded in the same body call.
* ``prediction_fields(settings) -> [pyarrow.Field]`` and ``predict_outputs(enc, ctx) ->
  {field name: (B, ...) tensor}``: the per-event prediction columns (names unique across
  heads); ``prediction_metadata() -> dict`` goes into the prediction file's provenance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import torch
from torch import nn

from evenet.model.encoded import Encoded


@dataclass(frozen=True)
class BuildContext:
    """What a head may be built from (the model's config, classes and topologies)."""

    hidden: int
    heads: Any  # evenet.model.config.HeadsConfig
    num_classes: int
    topologies: list[dict]
    object_dim: int
    global_dim: int  # normalised globals plus globals_extra
    global_names: tuple[str, ...] = ()  # the global_dim columns' names
    extra_dim: int = 0  # per-object x_extra features


@dataclass
class LossContext:
    """One training batch as a head's loss sees it."""

    batch: dict  # raw loader columns (targets included)
    weight: torch.Tensor | None  # per-event training weight (B,)
    generator: torch.Generator | None
    normalizer: Any  # evenet.model.normalize.Normalizer
    mask_fraction: float = 0.5
    state: Any = None  # what this head's `corrupt` returned (noised-copy heads)


@dataclass(frozen=True)
class PredictSettings:
    """Prediction options every head may read."""

    hypotheses: Sequence[str] = ()  # topologies whose assignment every event gets
    neutrino_samples: int = 0
    diffusion_steps: int = 25


@dataclass
class PredictContext:
    batch: dict
    normalizer: Any
    settings: PredictSettings
    generator: torch.Generator | None = None


class Head(nn.Module):
    """Base of every head: the defaults of the contract (see the module doc)."""

    def training_loss(self, enc: Encoded, ctx: LossContext) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no training_loss")

    def corrupt(self, inputs: dict, clean: dict, ctx: LossContext) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not read the noised copy")

    def prediction_fields(self, settings: PredictSettings) -> list[pa.Field]:
        return []

    def predict_outputs(self, enc: Encoded, ctx: PredictContext) -> dict[str, torch.Tensor]:
        return {}

    def prediction_metadata(self) -> dict:
        return {}


@dataclass(frozen=True)
class HeadSpec:
    task: str
    build: Callable[[BuildContext], Head]
    columns: tuple[str, ...] = ()  # loader columns the loss reads besides the inputs
    needs_truth: bool = False  # trains on truth targets (dropped for datasets without them)
    reads_noised: bool = False  # reads the noised copy (else the clean one)
    order: int = field(default=0, compare=False)
    own_copy: bool = False  # corrupts a private copy instead of the shared noised one


_REGISTRY: dict[str, HeadSpec] = {}


def register(
    task: str,
    *,
    columns: Sequence[str] = (),
    needs_truth: bool = False,
    reads_noised: bool = False,
    own_copy: bool = False,
) -> Callable[[Callable[[BuildContext], Head]], Callable[[BuildContext], Head]]:
    """Decorator registering ``build`` as the builder of ``task``'s head."""

    def decorate(build: Callable[[BuildContext], Head]) -> Callable[[BuildContext], Head]:
        if task in _REGISTRY:
            raise ValueError(f"a head for task '{task}' is already registered")
        _REGISTRY[task] = HeadSpec(
            task,
            build,
            tuple(columns),
            needs_truth,
            reads_noised or own_copy,
            order=len(_REGISTRY),
            own_copy=own_copy,
        )
        return build

    return decorate


def unregister(task: str) -> None:
    """Remove a registered head (tests that register a toy head clean up with this)."""
    _REGISTRY.pop(task, None)


def spec(task: str) -> HeadSpec:
    _load_builtin_heads()
    try:
        return _REGISTRY[task]
    except KeyError:
        known = ", ".join(registered())
        raise KeyError(f"no head registered for task '{task}' (known: {known})") from None


def registered() -> tuple[str, ...]:
    """Every registered task, in registration order (the built-in heads first)."""
    _load_builtin_heads()
    return tuple(sorted(_REGISTRY, key=lambda t: _REGISTRY[t].order))


def _load_builtin_heads() -> None:
    """Import the built-in head modules, whose decorators register them."""
    from evenet.model.heads import builtin  # noqa: F401
