"""The built-in heads, registered under their task names (see `contract`).

The registration order is the order of `evenet.model.config.TASKS`.
"""

from __future__ import annotations

from evenet.model.heads.assignment import AssignmentHeads
from evenet.model.heads.classification import ClassificationHead
from evenet.model.heads.contract import BuildContext, register
from evenet.model.heads.generation import GlobalGenerationHead, MaskedPointHead, NeutrinoHead
from evenet.model.heads.object_generation import ObjectGenerationHead
from evenet.model.heads.segmentation import SegmentationHead


@register("classification", columns=("label",))
def _classification(ctx: BuildContext) -> ClassificationHead:
    return ClassificationHead(ctx.hidden, ctx.num_classes, ctx.heads.classification_layers)


@register("assignment", columns=("topology", "assignment"), needs_truth=True)
def _assignment(ctx: BuildContext) -> AssignmentHeads:
    hc = ctx.heads
    return AssignmentHeads(
        ctx.hidden,
        ctx.topologies,
        dim=hc.assignment_dim,
        layers=hc.assignment_layers,
        heads=hc.head_heads,
        divergence_weight=hc.assignment_divergence,
    )


@register("segmentation", columns=("topology", "segmentation"), needs_truth=True)
def _segmentation(ctx: BuildContext) -> SegmentationHead:
    hc = ctx.heads
    return SegmentationHead(
        ctx.hidden, ctx.topologies, layers=hc.segmentation_layers, heads=hc.head_heads
    )


@register(
    "neutrino_generation",
    columns=("topology", "neutrinos", "neutrinos_mask"),
    needs_truth=True,
)
def _neutrino_generation(ctx: BuildContext) -> NeutrinoHead:
    hc = ctx.heads
    return NeutrinoHead(
        ctx.hidden, dim=hc.generation_dim, layers=hc.generation_layers, heads=hc.head_heads
    )


@register("masked_generation", reads_noised=True)
def _masked_generation(ctx: BuildContext) -> MaskedPointHead:
    return MaskedPointHead(ctx.hidden, ctx.object_dim)


def _global_columns(ctx: BuildContext, names, role: str, head: str) -> list[int]:
    """Column indices (globals + globals_extra) of the global feature ``names``; a periodic
    global names its (cos, sin) pair."""
    from evenet.io.schema import GLOBAL_FEATURES
    from evenet.model.config import ModelConfigError
    from evenet.model.normalize import GLOBAL_INPUTS

    columns_of = ctx.global_names or GLOBAL_INPUTS  # globals, then the model's globals_extra
    known = (*GLOBAL_FEATURES, *columns_of[len(GLOBAL_INPUTS) :])
    index = []
    for name in names:
        if name not in known:
            raise ModelConfigError(
                f"{head}: unknown {role} global '{name}' (known: {', '.join(known)})"
            )
        if name == "MET_phi" and role == "condition":
            raise ModelConfigError(f"MET_phi cannot condition the {head} (periodic)")
        expanded = (name, f"cos_{name}", f"sin_{name}")  # periodic globals: cos, sin
        index += [i for i, column in enumerate(columns_of) if column in expanded]
    return index


@register("global_generation", own_copy=True)
def _global_generation(ctx: BuildContext) -> GlobalGenerationHead:
    from evenet.model.config import ModelConfigError

    hc = ctx.heads
    condition = _global_columns(ctx, hc.global_condition, "condition", "global generation")
    generate = _global_columns(ctx, hc.global_generate, "generated", "global generation")
    if set(condition) & set(generate):
        raise ModelConfigError(
            "global generation: a global cannot be both generated and a condition "
            f"({sorted(set(hc.global_condition) & set(hc.global_generate))})"
        )
    return GlobalGenerationHead(
        ctx.hidden,
        ctx.global_dim,
        tuple(condition),
        generate=tuple(generate),
        dim=hc.generation_dim,
    )


@register("object_generation", own_copy=True)
def _object_generation(ctx: BuildContext) -> ObjectGenerationHead:
    from evenet.io.schema import N_OBJECTS
    from evenet.model.config import ModelConfigError

    hc = ctx.heads
    condition = _global_columns(ctx, hc.object_condition, "condition", "object generation")
    try:
        return ObjectGenerationHead(
            ctx.hidden,
            ctx.object_dim,
            ctx.extra_dim,
            ctx.global_dim,
            N_OBJECTS,
            tuple(hc.object_slots),
            tuple(condition),
        )
    except ValueError as error:
        raise ModelConfigError(f"object generation: {error}") from None
