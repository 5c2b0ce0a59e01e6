"""Fine-tuning: a pretrained body (optionally heads) plus new heads for an analysis dataset.

The new model is built for the dataset's class map and topologies but with the pretrained
body's normalisation statistics (the body sees inputs as it learned them). `--scratch` builds
the same architecture from random weights with the dataset's own statistics, for comparisons;
its body trains at the full learning rate, unfrozen (body_lr_factor and freeze are for a
pretrained body).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from evenet.io.manifest import sha256_file
from evenet.io.selection import Selection, ensure_selected
from evenet.model.checkpoint import check_compatible, load_checkpoint
from evenet.model.errors import CheckpointError
from evenet.train.options import TrainOptions
from evenet.train.trainer import build_model, dataset_inputs, train
from evenet.train.transfer import load_pretrained


def finetune(
    dataset: str | Path,
    run_dir: str | Path,
    options: TrainOptions,
    *,
    pretrained: str | Path | None = None,
    scratch: bool = False,
    load_heads: bool | list[str] = False,
    selection: Selection | None = None,
    resume: bool | str = False,
    log=print,
) -> dict:
    """Fine-tune on ``dataset`` (or, with ``selection``, on its selected events: a dataset
    written to ``run_dir``/selected whose training size is ``options.train_events``)."""
    if selection is not None:
        selection = replace(selection, size=options.train_events or None)
        dataset = ensure_selected(dataset, selection, Path(run_dir) / "selected", log=log)
        options = replace(options, train_events=0)  # the selected dataset has that size
    manifest, own_stats = dataset_inputs(Path(dataset))
    torch.manual_seed(options.seed)  # new heads: one initialisation per seed (ensembles)
    if scratch:
        if options.body_lr_factor != 1.0 or options.freeze != "none":
            # A slower or frozen body protects what pretraining learned; a random body has
            # nothing to protect, and slowing it would handicap the scratch baseline.
            log(
                f"[finetune] scratch: the body trains at the full learning rate "
                f"(body_lr_factor {options.body_lr_factor} and freeze {options.freeze!r} apply "
                "to a pretrained body)"
            )
            options = replace(options, body_lr_factor=1.0, freeze="none")
        model = build_model(options, manifest, own_stats)
        log("[finetune] scratch: random initialisation, the dataset's own statistics")
        return train(
            dataset,
            run_dir,
            options,
            model=model,
            stats=own_stats,
            init="scratch",
            resume=resume,
            log=log,
        )
    if pretrained is None:
        raise CheckpointError("fine-tuning needs --pretrained CHECKPOINT (or --scratch)")
    payload = load_checkpoint(pretrained)
    check_compatible(payload, manifest, where=str(pretrained))
    stored = payload["model_config"].get("preset")
    if stored != options.preset:
        raise CheckpointError(
            f"{pretrained} holds a '{stored}' model; set training.finetune.preset: {stored}"
        )
    # The body sees inputs as it learned them; extra inputs it never saw (x_extra) are
    # standardised with the fine-tuning dataset's own statistics (x_extra, globals_extra).
    stats = dict(payload["stats"])
    for group in ("x_extra", "globals_extra"):
        if manifest.get(group) and group not in stats:
            stats[group] = own_stats[group]
    model = build_model(options, manifest, stats)
    report = load_pretrained(model, payload, heads=load_heads, class_map=manifest.get("class_map"))
    log(f"[finetune] weights from {pretrained}:\n{report.format()}")
    return train(
        dataset,
        run_dir,
        options,
        model=model,
        stats=stats,
        init=f"pretrained:{sha256_file(pretrained)}",
        resume=resume,
        log=log,
    )
