"""The built-in heads, registered under their task names (see `contract`).

The registration order is the order of `evenet.model.config.TASKS`.
"""

from __future__ import annotations

from evenet.model.heads.assignment import AssignmentHeads
from evenet.model.heads.classification import ClassificationHead
from evenet.model.heads.contract import BuildContext, register
from evenet.model.heads.generation import GlobalGenerationHead, MaskedPointHead, NeutrinoHead
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


@register("global_generation", reads_noised=True)
def _global_generation(ctx: BuildContext) -> GlobalGenerationHead:
    from evenet.io.schema import GLOBAL_FEATURES
    from evenet.model.config import ModelConfigError
    from evenet.model.normalize import GLOBAL_INPUTS

    index = []
    for name in ctx.heads.global_condition:
        if name not in GLOBAL_FEATURES:
            raise ModelConfigError(f"unknown global '{name}' (known: {', '.join(GLOBAL_FEATURES)})")
        if name == "MET_phi":
            raise ModelConfigError("MET_phi cannot condition the global generation (periodic)")
        index.append(GLOBAL_INPUTS.index(name))
    return GlobalGenerationHead(
        ctx.hidden, ctx.global_dim, tuple(index), dim=ctx.heads.generation_dim
    )
