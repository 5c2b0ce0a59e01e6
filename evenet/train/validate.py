"""Loss on the validation split (deterministic noise), for early stopping and model choice."""

from __future__ import annotations

import torch

from evenet.data.loader import make_loader


def validation_loader(dataset, options, columns: list[str]):
    return make_loader(
        dataset,
        split="val",
        batch_size=options.batch_size,
        shuffle=False,
        drop_last=False,
        num_workers=0,  # a pass is short; no worker processes kept alive beside training
        columns=columns,
        seed=options.seed,
    )


@torch.no_grad()
def validation_loss(
    model,
    loader,
    tasks,
    weights: dict,
    device,
    bf16: bool,
    seed: int,
    transform=None,
    mask_fraction: float = 1.0,
) -> dict:
    """Event-weighted mean of each loss term and of their weighted sum over the split."""
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    events = 0
    generator = torch.Generator(device=device).manual_seed(seed)
    try:
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            if transform is not None:  # the training weights, as in training
                batch = transform(batch)
            n = len(batch["x"])
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                terms = model.losses(
                    batch, tasks=tasks, mask_fraction=mask_fraction, generator=generator
                )
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + float(value) * n
            totals["loss"] = totals.get("loss", 0.0) + n * sum(
                weights[t] * float(v) for t, v in terms.items()
            )
            events += n
    finally:
        model.train(was_training)
    return {k: v / max(events, 1) for k, v in totals.items()}


class Validator:
    """Rank 0's validation every ``eval_every`` steps: the loss row in validation.csv, the
    best-so-far tracker (which keeps the best EMA weights) and its early-stopping verdict."""

    def __init__(self, loader, log_file, tracker, options, log):
        self.loader, self.log_file, self.tracker = loader, log_file, tracker
        self.options, self.log = options, log

    def run(
        self, model, ema, step, epoch, tasks, weights, device, bf16, transform, mask_fraction
    ) -> bool:
        """Validate the EMA weights (the ones a run keeps and exports) at the stage's masked
        fraction; True when early stopping says stop. The model's own weights are restored."""
        seed = self.options.seed * 7919
        own = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(ema.shadow)
        try:
            val = validation_loss(
                model, self.loader, tasks, weights, device, bf16, seed, transform, mask_fraction
            )
        finally:
            model.load_state_dict(own)
        stop = self.tracker.update(step, val["loss"], ema)
        self.log_file.write(
            {"step": step, "epoch": epoch, **{f"val_{k}": v for k, v in val.items()}}
        )
        best = self.tracker.best
        self.log(f"[train] step {step}: validation loss {val['loss']:.4f} (best {best:.4f})")
        return stop
