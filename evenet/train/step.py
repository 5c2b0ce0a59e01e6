"""One optimizer step of the training loop: gradient accumulation over loader batches,
autocast, the finite-loss guard, clipping, optimizer/scheduler/EMA updates."""

from __future__ import annotations

import time

import torch


class Batches:
    """Endless batches of the loader, epoch after epoch (``epoch`` counts the rollovers), and
    the seconds each ``next`` waited for the loader."""

    def __init__(self, loader, epoch: int, device, transform):
        self.loader, self.epoch, self.device, self.transform = loader, epoch, device, transform
        loader.set_epoch(epoch)
        self._iterator = iter(loader)

    def next(self) -> tuple[dict, float]:
        start = time.perf_counter()
        try:
            batch = next(self._iterator)
        except StopIteration:
            self.epoch += 1
            self.loader.set_epoch(self.epoch)
            self._iterator = iter(self.loader)
            batch = next(self._iterator)
        batch = self.transform({k: v.to(self.device, non_blocking=True) for k, v in batch.items()})
        return batch, time.perf_counter() - start


def optimizer_step(
    model,
    losses_fn,
    state,
    batches: Batches,
    progress,
    guard,
    options,
    *,
    step,
    tasks,
    weights,
    fraction,
    bf16,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Accumulate ``options.grad_accumulation`` batches and update; returns the loss terms
    (averaged over the micro-batches, kept on the device) and the gradient norm."""
    device = batches.device
    generator = torch.Generator(device=device).manual_seed(options.seed * 1_000_003 + step)
    state.optimizer.zero_grad(set_to_none=True)
    # Kept on the device: converting to floats every step would wait for the GPU.
    terms_sum: dict[str, torch.Tensor] = {}
    for _ in range(options.grad_accumulation):
        batch, waited = batches.next()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            terms = losses_fn(batch, tasks=tasks, mask_fraction=fraction, generator=generator)
            loss = sum(weights[t] * v for t, v in terms.items()) / options.grad_accumulation
        guard.observe(loss, step + 1)
        loss.backward()
        progress.batch(len(batch["x"]), waited)
        for t, v in terms.items():
            terms_sum[t] = terms_sum.get(t, 0.0) + v.detach().float() / options.grad_accumulation
    grad_norm = (
        torch.nn.utils.clip_grad_norm_(model.parameters(), options.grad_clip)
        if options.grad_clip > 0
        else torch.tensor(0.0)
    )
    if options.grad_clip > 0:
        guard.observe(grad_norm, step + 1)
    state.optimizer.step()
    state.scheduler.step()
    state.ema.update(model)
    return terms_sum, grad_norm
