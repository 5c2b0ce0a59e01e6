"""Fine-tuning weight transfer: load a pretrained body (and optionally heads), freeze, group.

Weights are matched by NAME and SHAPE, never by shape or position alone:

* the body (``body.*``) and the embedded normalisation statistics (``normalizer.*``) are
  always taken from the checkpoint, so the body sees inputs as it learned them (the caller
  builds the new model with ``payload["stats"]``; the buffers are copied as well);
* heads only on request: an assignment head only into the head of the SAME topology name
  (a same-shaped head of another topology is never loaded), the classification head only when
  the class maps are identical, every other head by name and shape.

`load_pretrained` returns a `TransferReport` (loaded / newly initialised / skipped with a
reason) whose `format()` is printed by the fine-tuning command.

`freeze` only sets ``requires_grad``: dropout, drop-path and feature dropout of frozen modules
still apply in training mode (they regularise the heads, and EMA/eval are unaffected).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from evenet.io.topologies import TopologyError, resonance_types
from evenet.model.errors import CheckpointError, ModelConfigError
from evenet.model.model import EveNet

BODY_PREFIXES = ("body.", "normalizer.")
FREEZE_CHOICES = ("none", "body", "body_except_last:N")

# Reasons a checkpoint tensor is not used.
HEADS_NOT_REQUESTED = "heads not requested"
OTHER_TOPOLOGY = "other topology"
TOPOLOGY_DIFFERS = "topology definition differs"
TYPES_DIFFER = "resonance types differ"
CLASS_MAP_DIFFERS = "class map differs"
NOT_IN_MODEL = "not in the new model"


@dataclass
class TransferReport:
    loaded: list[str] = field(default_factory=list)
    initialised: list[str] = field(default_factory=list)  # new model's, not from the checkpoint
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (checkpoint name, reason)

    def skipped_names(self) -> dict[str, str]:
        return dict(self.skipped)

    def format(self) -> str:
        """Counts per top-level module, then the skipped tensors grouped by module and reason."""
        loaded = Counter(module_of(n) for n in self.loaded)
        initialised = Counter(module_of(n) for n in self.initialised)
        skipped = Counter(module_of(n) for n, _ in self.skipped)
        modules = sorted(set(loaded) | set(initialised) | set(skipped), key=_module_order)
        width = max([len("module"), *map(len, modules)])
        lines = [f"{'module':<{width}}  {'loaded':>6}  {'initialised':>11}  {'skipped':>7}"]
        for m in modules:
            lines.append(f"{m:<{width}}  {loaded[m]:>6}  {initialised[m]:>11}  {skipped[m]:>7}")
        total = (len(self.loaded), len(self.initialised), len(self.skipped))
        lines.append(f"{'total':<{width}}  {total[0]:>6}  {total[1]:>11}  {total[2]:>7}")
        if self.skipped:
            lines.append("skipped from the checkpoint:")
            lines += [f"  {line}" for line in _skipped_lines(self.skipped)]
        return "\n".join(lines)


def module_of(name: str) -> str:
    """Report row of a tensor: normalizer, body, heads.<task>, heads.assignment.<topology>."""
    parts = name.split(".")
    if parts[0] != "heads":
        return parts[0]
    depth = 3 if len(parts) > 3 and parts[1] == "assignment" else 2
    return ".".join(parts[:depth])


def _module_order(module: str) -> tuple[int, str]:
    rank = {"normalizer": 0, "body": 1}.get(module, 2)
    return rank, module


def _skipped_lines(skipped: list[tuple[str, str]]) -> list[str]:
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, reason in skipped:
        groups[(module_of(name), reason)].append(name)
    lines = []
    for (module, reason), names in sorted(groups.items(), key=lambda g: _module_order(g[0][0])):
        what = names[0] if len(names) == 1 else f"{module} ({len(names)} tensors)"
        lines.append(f"{what}: {reason}")
    return lines


# ---- loading -------------------------------------------------------------------------------


def load_pretrained(
    model: EveNet,
    payload: dict,
    *,
    heads: bool | Iterable[str] = False,
    class_map: dict | None = None,
) -> TransferReport:
    """Copy the checkpoint's body (and with ``heads=True`` its heads, or the heads of the
    tasks named in ``heads``, e.g. ``["assignment"]``) into ``model``.

    ``class_map`` is the new task's {str(process id): class index}; the classification head is
    loaded only when it equals the checkpoint's. Raises CheckpointError for a checkpoint whose
    body width differs or from which no body tensor could be loaded.
    """
    _check_hidden(model, payload)
    source = payload.get("state_dict")
    if not isinstance(source, dict):
        raise CheckpointError("the checkpoint holds no state_dict")
    target = model.state_dict()
    requested = {True: None, False: set()}.get(heads) if isinstance(heads, bool) else set(heads)
    rules = _HeadRules(model, payload, class_map)
    report, chosen = TransferReport(), {}
    for name, tensor in source.items():
        reason = _skip_reason(name, tensor, target, requested, rules)
        if reason is None:
            chosen[name] = tensor
            report.loaded.append(name)
        else:
            report.skipped.append((name, reason))
    if not any(n.startswith("body.") for n in chosen):
        raise CheckpointError(
            "no body tensor of the checkpoint fits the new model (names or shapes differ): "
            "is this an EveNet checkpoint of the same preset?"
        )
    report.initialised = [n for n in target if n not in chosen]
    # strict=False: the new model keeps its fresh values for everything not chosen.
    model.load_state_dict(chosen, strict=False)
    return report


def _check_hidden(model: EveNet, payload: dict) -> None:
    try:
        stored = int(payload["model_config"]["body"]["hidden"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError("the checkpoint's model_config has no body.hidden") from None
    if stored != model.config.body.hidden:
        raise CheckpointError(
            f"the checkpoint's body has hidden={stored}, the new model has "
            f"hidden={model.config.body.hidden}: fine-tune with the pretrained preset"
        )


class _HeadRules:
    """What decides whether a head tensor may be loaded besides its name and shape."""

    def __init__(self, model: EveNet, payload: dict, class_map: dict | None):
        self.tasks = set(model.heads.keys())
        self.new_topologies = {t["name"]: t for t in model.topologies}
        self.old_topologies = {t["name"]: t for t in payload.get("topologies", [])}
        self.same_types = "segmentation" in model.heads and _types(
            payload.get("topologies", [])
        ) == list(model.heads["segmentation"].types)
        stored = payload.get("class_map")
        self.same_classes = (
            class_map is not None and stored is not None and _plain(class_map) == _plain(stored)
        )

    def reason(self, name: str) -> str | None:
        parts = name.split(".")
        if parts[1] not in self.tasks:
            return NOT_IN_MODEL
        if parts[1] == "classification" and not self.same_classes:
            return CLASS_MAP_DIFFERS
        if parts[1] == "segmentation" and not self.same_types:
            return TYPES_DIFFER  # the same class index would name another resonance type
        if parts[1] == "assignment" and len(parts) > 2:
            topology = parts[2]
            if topology not in self.new_topologies:
                return OTHER_TOPOLOGY
            old = self.old_topologies.get(topology)
            if old is not None and _definition(old) != _definition(self.new_topologies[topology]):
                return TOPOLOGY_DIFFERS  # same name, other decay: rows would mean other things
        return None


def _skip_reason(
    name: str, tensor: torch.Tensor, target: dict, requested: set[str] | None, rules: _HeadRules
) -> str | None:
    """Why ``name`` is not loaded (None: it is); ``requested``: head tasks to load, None all."""
    if name.startswith("heads."):
        if requested is not None and name.split(".")[1] not in requested:
            return HEADS_NOT_REQUESTED
        reason = rules.reason(name)
        if reason is not None:
            return reason
    elif not name.startswith(BODY_PREFIXES):
        return NOT_IN_MODEL
    if name not in target:
        return NOT_IN_MODEL
    old, new = tuple(tensor.shape), tuple(target[name].shape)
    if old != new:
        return f"shape {old} vs {new}"
    return None


def _types(topologies: list[dict]) -> list[str] | None:
    try:
        return resonance_types(topologies)
    except TopologyError:  # a checkpoint from before resonance types
        return None


def _plain(class_map: dict) -> dict[str, int]:
    return {str(k): int(v) for k, v in class_map.items()}


def _definition(topology: dict) -> tuple:
    """The parts of a topology that give an assignment head's rows and symmetries meaning."""
    return repr(topology.get("resonances")), repr(topology.get("symmetries"))


# ---- freezing and optimiser groups ---------------------------------------------------------


def freeze(model: EveNet, what: str) -> list[str]:
    """Set requires_grad=False on the body parameters named by ``what`` and return their names.

    ``none``; ``body``; ``body_except_last:N`` (the last N transformer blocks and the final
    norm stay trainable). Only gradients stop: dropout / drop-path still act in train mode.
    """
    keep = _trainable_body_prefixes(model, what)
    if keep is None:
        return []
    # A new input projection (x_extra) is never pretrained: it stays trainable.
    keep = (*keep, "body.extra_embed.", "body.global_extra_embed.")
    frozen = []
    for name, param in model.named_parameters():
        if name.startswith("body.") and not name.startswith(keep):
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


def _trainable_body_prefixes(model: EveNet, what: str) -> tuple[str, ...] | None:
    """Body parameter prefixes left trainable (None: freeze nothing)."""
    if what == "none":
        return None
    if what == "body":
        return ()
    prefix = "body_except_last:"
    if what.startswith(prefix):
        layers = len(model.body.blocks)
        try:
            n = int(what[len(prefix) :])
        except ValueError:
            n = -1
        if not 0 <= n <= layers:
            raise ModelConfigError(
                f"freeze '{what}': N must be an integer in 0..{layers} (transformer blocks)"
            )
        blocks = tuple(f"body.blocks.{i}." for i in range(layers - n, layers))
        return (*blocks, "body.norm.") if n else ()
    raise ModelConfigError(f"unknown freeze '{what}' (choose from {', '.join(FREEZE_CHOICES)})")


def param_groups(
    model: EveNet, lr: float, body_lr_factor: float, weight_decay: float
) -> list[dict]:
    """AdamW groups: body at lr * body_lr_factor, the rest (heads) at lr; trainable parameters
    only; 1-D tensors (biases, LayerNorm weights, LayerScale gammas) without weight decay."""
    if lr <= 0 or body_lr_factor < 0:
        raise ModelConfigError(
            f"lr must be > 0 and body_lr_factor >= 0 (got {lr}, {body_lr_factor})"
        )
    buckets: dict[tuple[str, bool], list[nn.Parameter]] = defaultdict(list)
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        part = "body" if name.startswith("body.") else "heads"
        buckets[(part, param.ndim > 1)].append(param)
    groups = []
    for part in ("body", "heads"):
        part_lr = lr * body_lr_factor if part == "body" else lr
        for decay in (True, False):
            params = buckets.get((part, decay))
            if params:
                groups.append(
                    {
                        "name": part if decay else f"{part}_no_decay",
                        "params": params,
                        "lr": part_lr,
                        "weight_decay": weight_decay if decay else 0.0,
                    }
                )
    return groups
