"""EveNet: one body, many heads, one body call per training step.

`EveNet.losses(batch)` normalises the raw batch, builds the noised copy that the
self-supervised generation heads need (masked point cloud, global features), concatenates
it with the clean copy, encodes both in a single body call and hands each head its half.
The neutrino denoiser is conditioned on the clean encoding, so it needs no body call.
"""

from __future__ import annotations

import torch
from torch import nn

from evenet.io.schema import GLOBAL_FEATURES, OBJECT_FEATURES
from evenet.model.body import CLEAN_LOGSNR, EveNetBody
from evenet.model.config import COMPILE_MODES, ModelConfig, ModelConfigError
from evenet.model.encoded import Encoded
from evenet.model.heads.assignment import AssignmentHead, group_by_topology
from evenet.model.heads.classification import ClassificationHead
from evenet.model.heads.generation import GlobalGenerationHead, MaskedPointHead, NeutrinoHead
from evenet.model.heads.segmentation import SegmentationHead
from evenet.model.normalize import GLOBAL_INPUTS, Normalizer

# Object feature columns (raw x) the body's kNN graph and pair bias read: pT, eta, phi, E.
_KINEMATICS = [OBJECT_FEATURES.index(name) for name in ("pT", "eta", "phi", "E")]


# Heads that read the noised copy's encoding (all others read the clean copy's).
NOISED_COPY_TASKS = frozenset({"masked_generation", "global_generation"})


class EveNet(nn.Module):
    def __init__(self, config: ModelConfig, stats: dict, topologies: list[dict]):
        super().__init__()
        self.config = config.validate()
        self.topologies = list(topologies)
        h, hc = config.body.hidden, config.heads
        self.normalizer = Normalizer(stats)
        self.feature_drop = float(config.body.feature_drop)
        self.body = EveNetBody(config.body, Normalizer.object_dim, Normalizer.global_dim)
        heads: dict[str, nn.Module] = {}
        tasks = set(config.tasks)
        if "classification" in tasks:
            heads["classification"] = ClassificationHead(
                h, config.num_classes, hc.classification_layers
            )
        if "assignment" in tasks:
            heads["assignment"] = nn.ModuleDict(
                {
                    t["name"]: AssignmentHead(
                        h,
                        t,
                        dim=hc.assignment_dim,
                        layers=hc.assignment_layers,
                        heads=hc.head_heads,
                        divergence_weight=hc.assignment_divergence,
                    )
                    for t in self.topologies
                    if t["resonances"]
                }
            )
        if "segmentation" in tasks:
            heads["segmentation"] = SegmentationHead(
                h, self.topologies, layers=hc.segmentation_layers, heads=hc.head_heads
            )
        if "neutrino_generation" in tasks:
            heads["neutrino_generation"] = NeutrinoHead(
                h, dim=hc.generation_dim, layers=hc.generation_layers, heads=hc.head_heads
            )
        if "masked_generation" in tasks:
            heads["masked_generation"] = MaskedPointHead(h, Normalizer.object_dim)
        if "global_generation" in tasks:
            heads["global_generation"] = GlobalGenerationHead(
                h,
                Normalizer.global_dim,
                _condition_index(hc.global_condition),
                dim=hc.generation_dim,
            )
        self.heads = nn.ModuleDict(heads)

    def compile_body(self, mode: str = "default") -> None:
        """torch.compile the body only, in place (state_dict keys unchanged): its shapes are
        static (batch, slots), while the heads pick each topology's events, data-dependent
        shapes that would break the graph and recompile on every batch. ``mode`` is
        torch.compile's ("reduce-overhead" replays CUDA graphs)."""
        if mode not in COMPILE_MODES:
            raise ModelConfigError(f"unknown compile mode '{mode}' ({', '.join(COMPILE_MODES)})")
        self.body.compile(mode=mode)

    # ---- inputs ----------------------------------------------------------------------------

    def inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        """Normalised clean copy of a raw batch (loader columns)."""
        mask = batch["x_mask"].bool()
        x = batch["x"].float()
        return {
            "objects": self.normalizer.objects(x, mask),
            "mask": mask,
            "globals": self.normalizer.globals(batch["globals"].float()),
            "kinematics": x[..., _KINEMATICS] * mask.unsqueeze(-1),
        }

    def encode(self, batch: dict) -> Encoded:
        """The clean encoding of a raw batch (fine-tuning, prediction)."""
        return self.body(**self.inputs(batch))

    # ---- training --------------------------------------------------------------------------

    def forward(self, batch: dict, **options) -> dict[str, torch.Tensor]:
        """The loss terms (see `losses`): DistributedDataParallel calls the module itself."""
        return self.losses(batch, **options)

    def losses(
        self,
        batch: dict,
        *,
        tasks: tuple[str, ...] | None = None,
        mask_fraction: float = 0.5,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Named loss terms of the requested tasks (default: every head), one body call."""
        tasks = tuple(tasks or self.heads.keys())
        missing = [t for t in tasks if t not in self.heads]
        if missing:
            raise ModelConfigError(f"the model has no head for task(s) {missing}")
        clean = self.inputs(batch)
        # The clean copy is encoded only when a head reads it: stage 1 (masked generation
        # alone) encodes the noised copy only, half the body cost.
        wants_clean = bool(set(tasks) - NOISED_COPY_TASKS)
        copies, noised = [self._drop_objects(clean)] if wants_clean else [], {}
        if set(tasks) & NOISED_COPY_TASKS:
            noised = self._noised_copy(clean, tasks, mask_fraction, generator)
            copies.append(noised["inputs"])
        encoded = self.body(**_concat(copies))
        b = clean["mask"].shape[0] if wants_clean else 0  # events of the clean copy
        enc_clean = encoded.select(slice(0, b)) if wants_clean else None
        enc_noised = encoded.select(slice(b, None)) if noised else None
        weight = batch.get("train_weight")  # per event; the noised copies are in the same order
        terms: dict[str, torch.Tensor] = {}
        for task in tasks:
            head = self.heads[task]
            if task == "classification":
                terms[task] = head.loss(head(enc_clean), batch["label"], weight)
            elif task == "assignment":
                terms[task] = self._assignment_loss(head, enc_clean, batch, weight)
            elif task == "segmentation":
                terms[task] = head.loss(head(enc_clean), batch, weight)
            elif task == "neutrino_generation":
                nu = self.normalizer.neutrinos(batch["neutrinos"].float())
                terms[task] = head.loss(
                    enc_clean,
                    nu,
                    batch["neutrinos_mask"].bool(),
                    generator=generator,
                    weight=weight,
                    known=batch["topology"] >= 0,
                )
            elif task == "masked_generation":
                terms[task] = head.loss(head(enc_noised), noised["objects"], weight)
            elif task == "global_generation":
                g = noised["globals"]
                terms[task] = head.loss(head(enc_noised, g.g_t, g.logsnr), g, weight)
        return terms

    @staticmethod
    def _assignment_loss(
        heads: nn.ModuleDict, enc: Encoded, batch: dict, weight: torch.Tensor | None
    ) -> torch.Tensor:
        """Mean over events with a topology of their topology's assignment loss (weighted by
        ``weight`` when given). Each topology's head sees only its own events (8 heads on every
        event would cost 8x)."""
        total = enc.event.sum() * 0.0  # graph-connected zero when no event has a topology
        order, groups = group_by_topology(
            batch["topology"], [h.topology_id for h in heads.values()]
        )
        if not groups:
            return total
        enc = enc.select(order)
        topology, assignment = batch["topology"][order].long(), batch["assignment"][order]
        weight = None if weight is None else weight[order]
        norm = 0.0
        for head in heads.values():
            rows = groups.get(head.topology_id)
            if rows is None:
                continue
            sub = {"topology": topology[rows], "assignment": assignment[rows]}
            sub_weight = None if weight is None else weight[rows]
            # Each head's mean, times its share of the normalisation (events or summed |w|).
            share = rows.stop - rows.start if weight is None else sub_weight.abs().sum()
            total = total + head.loss(head(enc.select(rows)), sub, sub_weight) * share
            norm = norm + share
        return total / (norm if weight is None else norm.clamp(min=1e-12))

    def _drop_objects(self, inputs: dict) -> dict:
        """Training augmentation of the clean copy only: every real object's features are
        zeroed with probability ``feature_drop`` (whole objects, no rescaling). The noised
        copy, whose inputs are diffusion states, and every target keep all objects."""
        if not self.training or self.feature_drop <= 0:
            return inputs
        objects = inputs["objects"]
        drop = torch.rand(objects.shape[:2], device=objects.device) < self.feature_drop
        return {**inputs, "objects": objects.masked_fill(drop.unsqueeze(-1), 0.0)}

    def _noised_copy(self, clean, tasks, mask_fraction, generator) -> dict:
        inputs = dict(clean)
        out: dict = {"inputs": inputs}
        if "masked_generation" in tasks:
            noised = MaskedPointHead.noise_objects(
                clean["objects"], clean["mask"], mask_fraction, generator=generator
            )
            out["objects"] = noised
            inputs["objects"] = noised.z_t
            inputs["token_logsnr"] = noised.token_logsnr
            # The graph and pair bias of noised tokens come from their noised kinematics.
            raw = self.normalizer.objects_inverse(noised.z_t)[..., _KINEMATICS]
            inputs["kinematics"] = torch.where(
                noised.noised.unsqueeze(-1), raw, clean["kinematics"]
            )
        else:
            inputs["token_logsnr"] = torch.full_like(clean["mask"], CLEAN_LOGSNR, dtype=torch.float)
        if "global_generation" in tasks:
            g = self.heads["global_generation"].noise_globals(clean["globals"], generator=generator)
            out["globals"] = g
            inputs["globals"] = g.g_t
            inputs["global_logsnr"] = g.logsnr
        else:
            inputs["global_logsnr"] = clean["globals"].new_full(
                (clean["globals"].shape[0],), CLEAN_LOGSNR
            )
        return out


def _concat(copies: list[dict]) -> dict:
    if len(copies) == 1:
        return copies[0]
    b = copies[0]["mask"].shape[0]
    first = dict(copies[0])
    first.setdefault("token_logsnr", first["objects"].new_full(first["mask"].shape, CLEAN_LOGSNR))
    first.setdefault("global_logsnr", first["objects"].new_full((b,), CLEAN_LOGSNR))
    return {k: torch.cat([first[k], *(c[k] for c in copies[1:])], dim=0) for k in first}


def _condition_index(names: tuple[str, ...]) -> tuple[int, ...]:
    """Column indices (in the normalised globals) of the named conditioning globals."""
    index = []
    for name in names:
        if name not in GLOBAL_FEATURES:
            raise ModelConfigError(f"unknown global '{name}' (known: {', '.join(GLOBAL_FEATURES)})")
        if name == "MET_phi":
            raise ModelConfigError("MET_phi cannot condition the global generation (periodic)")
        index.append(GLOBAL_INPUTS.index(name))
    return tuple(index)
