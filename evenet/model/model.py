"""EveNet: one body, many heads, one body call per training step.

`EveNet.losses(batch)` normalises the raw batch, lets the heads that read the noised copy build
it (`Head.corrupt`: masked point cloud, global features), concatenates it with the clean copy,
encodes both in a single body call and hands each head the encoding of its copy. Heads come
from the registry of `evenet.model.heads.contract` by task name and follow its contract: the
model has no task-specific code.
"""

from __future__ import annotations

import torch
from torch import nn

from evenet.model.body import CLEAN_LOGSNR, EveNetBody
from evenet.model.config import COMPILE_MODES, ModelConfig, ModelConfigError
from evenet.model.diffusion import DEFAULT_SAMPLE_STEPS
from evenet.model.encoded import Encoded
from evenet.model.heads.contract import BuildContext, LossContext, spec
from evenet.model.normalize import GLOBAL_INPUTS, KINEMATIC_COLUMNS, Normalizer


class EveNet(nn.Module):
    def __init__(self, config: ModelConfig, stats: dict, topologies: list[dict]):
        super().__init__()
        self.config = config.validate()
        self.topologies = list(topologies)
        self.normalizer = Normalizer(stats, config.x_extra, config.globals_extra)
        self.feature_drop = float(config.body.feature_drop)
        self.body = EveNetBody(
            config.body,
            Normalizer.object_dim,
            Normalizer.global_dim,
            len(config.x_extra),
            len(config.globals_extra),
        )
        context = BuildContext(
            hidden=config.body.hidden,
            heads=config.heads,
            num_classes=config.num_classes,
            topologies=self.topologies,
            object_dim=Normalizer.object_dim,
            global_dim=Normalizer.global_dim + len(config.globals_extra),
            global_names=(*GLOBAL_INPUTS, *config.globals_extra),
            extra_dim=len(config.x_extra),
        )
        self.heads = nn.ModuleDict({task: spec(task).build(context) for task in config.tasks})

    def compile_body(self, mode: str = "default") -> None:
        """torch.compile the body only, in place (state_dict keys unchanged): its shapes are
        static (batch, slots), while the heads pick each topology's events, data-dependent
        shapes that would break the graph and recompile on every batch. ``mode`` is
        torch.compile's ("reduce-overhead" replays CUDA graphs)."""
        if mode not in COMPILE_MODES:
            raise ModelConfigError(f"unknown compile mode '{mode}' ({', '.join(COMPILE_MODES)})")
        self.body.compile(mode=mode)
        self._static_shapes = True

    def _encode(self, inputs: dict) -> Encoded:
        """The body's encoding of ``inputs``. Trailing slots that are padding in every event
        are cut before the body and given back as padding after it: no token attends to
        padding and padding tokens come out as zeros, so the encoding is the same, and a
        batch of dimuons costs 2 slots instead of 18. On the CPU only: on a GPU, finding the
        cut would make the host wait for the device at every body call (a compiled body keeps
        its static shapes too)."""
        mask = inputs["mask"]
        slots = mask.shape[1]
        static = getattr(self, "_static_shapes", False) or mask.device.type != "cpu"
        used = 0 if static else slots
        if used:
            real = mask.any(0).nonzero()
            used = int(real.max()) + 1 if len(real) else 1
        if used in (0, slots):
            return self.body(**inputs)
        trimmed = {k: v[:, :used] if k in _PER_SLOT_INPUTS else v for k, v in inputs.items()}
        encoded = self.body(**trimmed)
        pad = (0, 0, 0, slots - used)
        return Encoded(
            tokens=torch.nn.functional.pad(encoded.tokens, pad),
            mask=mask,
            event=encoded.event,
        )

    # ---- inputs ----------------------------------------------------------------------------

    def inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        """Normalised clean copy of a raw batch (loader columns)."""
        mask = batch["x_mask"].bool()
        x = batch["x"].float()
        inputs = {
            "objects": self.normalizer.objects(x, mask),
            "mask": mask,
            "globals": self.normalizer.globals(batch["globals"].float()),
            "kinematics": x[..., KINEMATIC_COLUMNS] * mask.unsqueeze(-1),
        }
        if self.config.x_extra:
            if "x_extra" not in batch:
                raise ModelConfigError(
                    f"the model takes x_extra inputs {list(self.config.x_extra)}: the batch "
                    "has no x_extra column"
                )
            inputs["extra"] = self.normalizer.extra(batch["x_extra"].float(), mask)
        if self.config.globals_extra:
            if "globals_extra" not in batch:
                raise ModelConfigError(
                    f"the model takes globals_extra inputs {list(self.config.globals_extra)}: "
                    "the batch has no globals_extra column"
                )
            inputs["globals_extra"] = self.normalizer.globals_extra(batch["globals_extra"].float())
        return inputs

    def encode(self, batch: dict) -> Encoded:
        """The clean encoding of a raw batch (fine-tuning, prediction)."""
        return self._encode(self.inputs(batch))

    @torch.no_grad()
    def sample_globals(
        self,
        batch: dict,
        steps: int = DEFAULT_SAMPLE_STEPS,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Generated globals (B, G + K_g: globals, then globals_extra), normalised, given the
        batch's condition columns (the
        generated ones are ignored; the others are hidden, returned as 0). The body encodes the
        current noised globals at every denoising step, with their noise level and the objects
        hidden, exactly as training's `corrupt` presents them."""
        if "global_generation" not in self.heads:
            raise ModelConfigError("the model has no global_generation head")
        head = self.heads["global_generation"]
        clean = self.inputs(batch)
        shown = head.conditioning(clean)  # what training's corrupt leaves visible

        def encode(g_t: torch.Tensor, logsnr: torch.Tensor) -> Encoded:
            noised = {**head.with_globals(shown, g_t), "global_logsnr": logsnr}
            return self._encode(_with_noise_levels(noised))

        return head.sample(encode, head.all_globals(shown), steps, generator)

    @torch.no_grad()
    def sample_objects(
        self,
        batch: dict,
        steps: int = DEFAULT_SAMPLE_STEPS,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Generated object slots (B, S, F + K: the normalised object features, then the
        normalised x_extra) of the object_generation head's S slots, given the batch's condition
        globals (its objects and other globals are not read). The body encodes the current
        noised slots at every denoising step, as training's `corrupt` presents them."""
        if "object_generation" not in self.heads:
            raise ModelConfigError("the model has no object_generation head")
        head = self.heads["object_generation"]
        shown = head.conditioning(self.inputs(batch))
        # Every other slot is padding, which no token attends to: the body runs on the chosen
        # slots alone (the same encoding, 18/S times less work).
        index = torch.tensor(head.slots, device=shown["mask"].device)
        shown = {k: v.index_select(1, index) if k in _PER_SLOT else v for k, v in shown.items()}

        def encode(z: torch.Tensor, logsnr: torch.Tensor) -> Encoded:
            return self._encode(head.with_state(shown, z, logsnr, self.normalizer))

        size = batch["x_mask"].shape[0]
        device = batch["x_mask"].device
        return head.sample(encode, size, steps, generator, device=device, dtype=torch.float32)

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
        # Noised-copy heads corrupt it in registration order (a fixed order of random draws);
        # heads with a private copy corrupt their own, after them.
        private = sorted((t for t in tasks if spec(t).own_copy), key=lambda t: spec(t).order)
        noised_tasks = sorted(
            (t for t in tasks if spec(t).reads_noised and t not in private),
            key=lambda t: spec(t).order,
        )
        clean_tasks = [t for t in tasks if not spec(t).reads_noised]
        clean = self.inputs(batch)
        contexts = {
            task: LossContext(
                batch=batch,
                weight=batch.get("train_weight"),  # per event; the noised copy has their order
                generator=generator,
                normalizer=self.normalizer,
                mask_fraction=mask_fraction,
            )
            for task in tasks
        }
        # The clean copy is encoded only when a head reads it: stage 1 (masked generation
        # alone) encodes the noised copy only, half the body cost.
        copies, copy_of = [], {}
        if clean_tasks:
            copies.append(self._drop_objects(clean))
            copy_of.update(dict.fromkeys(clean_tasks, 0))
        if noised_tasks:
            noised = dict(clean)
            for task in noised_tasks:
                contexts[task].state = self.heads[task].corrupt(noised, clean, contexts[task])
            copies.append(_with_noise_levels(noised))
            copy_of.update(dict.fromkeys(noised_tasks, len(copies) - 1))
        for task in private:
            own = dict(clean)
            contexts[task].state = self.heads[task].corrupt(own, clean, contexts[task])
            copies.append(_with_noise_levels(own))
            copy_of[task] = len(copies) - 1
        encoded = self._encode(_concat(copies))
        b = clean["mask"].shape[0]  # events per copy
        return {
            task: self.heads[task].training_loss(
                encoded.select(slice(copy_of[task] * b, (copy_of[task] + 1) * b)), contexts[task]
            )
            for task in tasks
        }

    def _drop_objects(self, inputs: dict) -> dict:
        """Training augmentation of the clean copy only: every real object's features are
        zeroed with probability ``feature_drop`` (whole objects, no rescaling). The noised
        copy, whose inputs are diffusion states, and every target keep all objects."""
        if not self.training or self.feature_drop <= 0:
            return inputs
        objects = inputs["objects"]
        drop = torch.rand(objects.shape[:2], device=objects.device) < self.feature_drop
        dropped = {**inputs, "objects": objects.masked_fill(drop.unsqueeze(-1), 0.0)}
        if "extra" in inputs:  # a dropped object loses its extra features too
            dropped["extra"] = inputs["extra"].masked_fill(drop.unsqueeze(-1), 0.0)
        return dropped


_PER_SLOT = ("objects", "mask", "kinematics", "extra")  # body inputs with a slot dimension
_PER_SLOT_INPUTS = (*_PER_SLOT, "token_logsnr")


def _with_noise_levels(inputs: dict) -> dict:
    """``inputs`` with the per-token and global noise levels a corrupting head did not set
    (clean: CLEAN_LOGSNR)."""
    out = dict(inputs)
    out.setdefault("token_logsnr", out["objects"].new_full(out["mask"].shape, CLEAN_LOGSNR))
    out.setdefault("global_logsnr", out["objects"].new_full(out["mask"].shape[:1], CLEAN_LOGSNR))
    return out


def _concat(copies: list[dict]) -> dict:
    if len(copies) == 1:
        return copies[0]
    first = _with_noise_levels(copies[0])
    return {k: torch.cat([first[k], *(c[k] for c in copies[1:])], dim=0) for k in first}
