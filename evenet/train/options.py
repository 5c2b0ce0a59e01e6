"""Training options: one typed dataclass, stored in every training checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from evenet.model.config import COMPILE_MODES, PRETRAINING_TASKS, build_dataclass
from evenet.model.errors import ModelConfigError

# Where fine-tuning's defaults differ from TrainOptions' (pretraining's): training.finetune.
FINETUNE_DEFAULTS = {
    "tasks": ("classification", "assignment"),
    "steps": 300,
    "stage1_steps": 0,
    "warmup_steps": 20,
    "ema_decay": 0.99,
    "body_lr_factor": 0.1,  # the pretrained body moves 10x slower than the new heads
    "eval_every": 50,
    "patience": 3,
}


def section_defaults(section: str) -> dict:
    """Defaults of config training.<section> ("pretrain" or "finetune"), as plain values:
    the one place they are defined (the schema is completed from here)."""
    defaults = TrainOptions().to_dict()
    if section == "finetune":
        defaults.update(TrainOptions(**FINETUNE_DEFAULTS).to_dict())
    return defaults


@dataclass(frozen=True)
class TrainOptions:
    preset: str = "tiny"  # model preset (tiny | lite | standard)
    tasks: tuple[str, ...] = PRETRAINING_TASKS  # heads trained in stage 2
    loss_weights: dict = field(default_factory=dict)  # task -> weight (default 1)
    batch_size: int = 256  # events per optimizer step and rank (before accumulation)
    steps: int = 400  # optimizer steps in total (local scale: ~6 min of the tiny preset)
    stage1_steps: int = 100  # first steps: masked point-cloud generation only
    mask_fraction_start: float = 0.1  # masked fraction at step 0, ramped over stage 1 ...
    mask_fraction_end: float = 1.0  # ... to this, kept in stage 2
    lr: float = 1e-3  # peak AdamW learning rate
    weight_decay: float = 0.05
    warmup_steps: int = 50  # linear warm-up, then cosine decay
    final_lr_factor: float = 0.05  # learning rate at the last step / lr
    grad_clip: float = 1.0  # max global gradient norm (0: off)
    grad_accumulation: int = 1  # micro-batches per optimizer step
    ema_decay: float = 0.999  # EMA of the weights (the exported model)
    checkpoint_every: int = 100  # steps between checkpoints (a kill loses at most this)
    log_every: int = 10  # steps between metric rows
    num_workers: int = 2  # loader worker processes (0: load in the training process)
    seed: int = 1
    bf16: bool | None = None  # bf16 autocast; None: on for CUDA, off on CPU
    compile: bool = False  # torch.compile the body (heads stay eager)
    compile_mode: str = "default"  # torch.compile mode ("reduce-overhead": CUDA graphs)
    body_lr_factor: float = 1.0  # body learning rate / lr (fine-tuning: e.g. 0.1)
    freeze: str = "none"  # none | body | body_except_last:N (requires_grad off)
    eval_every: int = 0  # steps between validation-split losses (0: no validation)
    patience: int = 0  # validations without improvement before stopping (0: never stop)
    train_events: int = 0  # a fixed subset of the training split for size scans (0: all)
    mix: dict = field(default_factory=dict)  # category -> share of the summed training weight
    weighting: str = "events"  # events | cross_section (evenet/train/weights.py)
    # global_generation head: {generate: [globals], condition: [globals]} (empty: its defaults)
    global_generation: dict = field(default_factory=dict)
    # object_generation head: {slots: [object slots], condition: [globals]} (empty: defaults)
    object_generation: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict) -> TrainOptions:
        options = build_dataclass(cls, values, "training")
        unknown = sorted(set(options.loss_weights) - set(options.tasks))
        if unknown:
            raise ModelConfigError(f"training.loss_weights names tasks not trained: {unknown}")
        for name in ("compile",):
            if not isinstance(getattr(options, name), bool):
                raise ModelConfigError(f"training.{name} must be true or false")
        for name, keys in (
            ("global_generation", {"generate", "condition"}),
            ("object_generation", {"slots", "condition"}),
        ):
            unknown = sorted(set(getattr(options, name)) - keys)
            if unknown:
                raise ModelConfigError(
                    f"training.{name} takes {' and '.join(sorted(keys))}, not {unknown}"
                )
        if options.compile_mode not in COMPILE_MODES:
            raise ModelConfigError(
                f"training.compile_mode '{options.compile_mode}' is not one of {COMPILE_MODES}"
            )
        if options.grad_accumulation < 1 or options.steps < 1 or options.batch_size < 1:
            raise ModelConfigError("training: steps, batch_size, grad_accumulation must be >= 1")
        return options

    def to_dict(self) -> dict:
        out = asdict(self)
        out["tasks"] = list(self.tasks)
        return out
