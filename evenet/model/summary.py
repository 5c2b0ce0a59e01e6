"""Parameter counts per module (`evenet model --summary`)."""

from __future__ import annotations

from torch import nn

from evenet.model.model import EveNet


def _count(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def parameter_table(model: EveNet) -> dict:
    """``params_total``, ``params_body`` (every module all heads share), ``params_heads`` and
    a per-module breakdown."""
    body = model.body
    modules = {
        "body.embeddings": _count(body.object_embed) + _count(body.global_embed),
        "body.time_embedding": _count(body.time_embed) + _count(body.time_to_token),
        "body.local_blocks": _count(body.local_blocks),
        "body.pair_bias": _count(body.pair_bias),
        "body.transformer_blocks": _count(body.blocks),
        "body.final_norm": _count(body.norm),
    }
    for name, head in model.heads.items():
        if isinstance(head, nn.ModuleDict):
            for sub, module in head.items():
                modules[f"heads.{name}.{sub}"] = _count(module)
        else:
            modules[f"heads.{name}"] = _count(head)
    params_body = _count(body)
    params_heads = _count(model.heads)
    return {
        "preset": model.config.preset,
        "params_total": _count(model),
        "params_body": params_body,
        "params_heads": params_heads,
        "modules": modules,
    }


def format_table(table: dict) -> str:
    width = max(len(k) for k in table["modules"])
    lines = [f"preset {table['preset']}", f"{'module':<{width}}  {'parameters':>12}"]
    lines += [f"{k:<{width}}  {v:>12,}" for k, v in table["modules"].items()]
    lines += [
        f"{'body (shared by all heads)':<{width}}  {table['params_body']:>12,}",
        f"{'heads':<{width}}  {table['params_heads']:>12,}",
        f"{'total':<{width}}  {table['params_total']:>12,}",
    ]
    return "\n".join(lines)


def build_for_summary(
    preset_name: str, checkpoint: str | None = None, topologies: list[str] | None = None
) -> EveNet:
    """The model of a checkpoint, or a preset with every pretraining head, neutral stats and
    the topologies of config/topologies.yaml (only the named ones when ``topologies`` is
    given: an analysis fine-tuning has assignment heads for its own topologies only)."""
    if checkpoint is not None:
        from evenet.model.checkpoint import from_checkpoint

        return from_checkpoint(checkpoint)[0]
    from evenet.catalogue import load_catalogue
    from evenet.io.topologies import load_topologies
    from evenet.model.config import ModelConfigError, preset
    from evenet.model.normalize import neutral_stats

    config = preset(preset_name, num_classes=len(load_catalogue()))
    known = load_topologies().summary()
    if topologies is not None:
        unknown = sorted(set(topologies) - {t["name"] for t in known})
        if unknown:
            names = ", ".join(t["name"] for t in known)
            raise ModelConfigError(f"unknown topologies {unknown} (known: {names})")
        known = [t for t in known if t["name"] in topologies]
    return EveNet(config, neutral_stats(), known)
