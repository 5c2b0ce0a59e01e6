"""Model configuration: typed dataclasses and the named presets.

A `ModelConfig` is stored inside every checkpoint as plain values (`to_dict`), so
`torch.load(..., weights_only=True)` can read it and `from_dict` rebuilds the same model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from evenet.model.errors import ModelConfigError


@dataclass(frozen=True)
class BodyConfig:
    hidden: int = 64  # width of every token in the body
    transformer_layers: int = 4
    heads: int = 4  # attention heads (hidden must divide by it)
    mlp_ratio: float = 4.0  # transformer MLP width / hidden
    local_layers: int = 2  # kNN EdgeConv blocks before the transformer
    knn: int = 3  # neighbours per object in (eta, phi), phi wrapped
    layer_scale: float = 1e-5  # LayerScale initial value of every residual branch
    drop_path: float = 0.1  # stochastic depth, ramped linearly to this at the last block
    feature_drop: float = 0.1  # training: each object's features zeroed (clean copy only)
    dropout: float = 0.0  # attention/MLP dropout
    pair_bias: bool = True  # ParT-style pairwise (ln dR, ln kT, ln z, ln m2) attention bias
    time_dim: int = 64  # width of the noise-level (log-SNR) features


@dataclass(frozen=True)
class HeadsConfig:
    classification_layers: int = 2  # hidden layers of the classification MLP
    assignment_dim: int = 64  # rank of the symmetric tensor attention
    assignment_layers: int = 1  # per-topology transformer layers before the tensor attention
    assignment_divergence: float = 1.0  # weight of SPANet's symmetric-divergence term
    segmentation_layers: int = 1  # query decoder layers
    generation_dim: int = 128  # width of the neutrino / global-feature denoisers
    generation_layers: int = 2  # neutrino denoiser decoder layers
    global_condition: tuple[str, ...] = ()  # globals the global-feature generation holds fixed
    global_generate: tuple[str, ...] = ()  # globals it generates (empty: all but the conditions)
    object_slots: tuple[int, ...] = (0, 1)  # object slots the object generation generates
    object_condition: tuple[str, ...] = ()  # globals the object generation is given
    head_heads: int = 4  # attention heads inside heads


# The built-in heads, in their registration order (evenet/model/heads/builtin.py; the config
# schema's $defs.task lists the same names). A model accepts any registered task.
TASKS = (
    "classification",
    "assignment",
    "segmentation",
    "neutrino_generation",
    "masked_generation",
    "global_generation",
    "object_generation",
)
# The heads pretraining trains by default (training.pretrain.tasks).
PRETRAINING_TASKS = (
    "classification",
    "assignment",
    "segmentation",
    "neutrino_generation",
    "masked_generation",
)


@dataclass(frozen=True)
class ModelConfig:
    preset: str = "tiny"
    body: BodyConfig = field(default_factory=BodyConfig)
    heads: HeadsConfig = field(default_factory=HeadsConfig)
    tasks: tuple[str, ...] = PRETRAINING_TASKS  # which heads exist (any of TASKS)
    num_classes: int = 2
    x_extra: tuple[str, ...] = ()  # per-object extra inputs (the dataset's x_extra names)
    globals_extra: tuple[str, ...] = ()  # per-event extra inputs (the dataset's globals_extra)

    def to_dict(self) -> dict:
        """Plain values only (lists, not tuples), safe for weights_only checkpoints."""
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        data = dict(data)
        body = build_dataclass(BodyConfig, data.pop("body", {}), "body")
        heads = build_dataclass(HeadsConfig, data.pop("heads", {}), "heads")
        return build_dataclass(cls, {**data, "body": body, "heads": heads}, "model")

    def validate(self) -> ModelConfig:
        from evenet.model.heads.contract import registered

        known = registered()
        unknown = sorted(set(self.tasks) - set(known))
        if unknown:
            raise ModelConfigError(f"unknown task(s) {unknown}; known: {', '.join(known)}")
        if self.body.hidden % self.body.heads:
            raise ModelConfigError(
                f"body.hidden={self.body.hidden} is not divisible by body.heads={self.body.heads}"
            )
        if self.body.knn < 1:
            raise ModelConfigError("body.knn must be at least 1")
        if "classification" in self.tasks and self.num_classes < 2:
            raise ModelConfigError("classification needs num_classes >= 2")
        return self


# torch.compile modes accepted for the body ("reduce-overhead" replays CUDA graphs).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


PRESETS = {
    # < 3M parameters in total: CPU tests and the local profile.
    "tiny": ModelConfig(preset="tiny"),
    # EveNet's 20M configuration (PHYSICS.md §2): hidden 256, 16 layers, 16 heads, 10 local.
    "lite": ModelConfig(
        preset="lite",
        body=BodyConfig(hidden=256, transformer_layers=16, heads=16, local_layers=10, time_dim=128),
        heads=HeadsConfig(
            classification_layers=2,
            assignment_dim=256,
            assignment_layers=2,
            segmentation_layers=2,
            generation_dim=256,
            generation_layers=3,
            head_heads=8,
        ),
    ),
    # The 100M configuration: hidden 512, 20 layers, 32 heads.
    "standard": ModelConfig(
        preset="standard",
        body=BodyConfig(hidden=512, transformer_layers=20, heads=32, local_layers=6, time_dim=256),
        heads=HeadsConfig(
            classification_layers=2,
            assignment_dim=512,
            assignment_layers=2,
            segmentation_layers=2,
            generation_dim=512,
            generation_layers=3,
            head_heads=16,
        ),
    ),
}


def preset(name: str, **overrides) -> ModelConfig:
    """A named preset with top-level fields replaced (e.g. num_classes, tasks)."""
    if name not in PRESETS:
        raise ModelConfigError(f"unknown preset '{name}' (choose from {', '.join(PRESETS)})")
    return replace(PRESETS[name], **overrides).validate()


def build_dataclass(cls, values: dict, where: str):
    """``cls(**values)`` with unknown keys refused and YAML lists turned into tuples."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ModelConfigError(f"unknown {where} key(s) {unknown} in the model config")
    converted = {
        k: tuple(v) if isinstance(v, list) and str(known[k].type).startswith("tuple") else v
        for k, v in values.items()
    }
    return cls(**converted)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
