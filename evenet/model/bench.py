"""`evenet bench model`: training-step throughput, memory and FLOPs of a preset."""

from __future__ import annotations

import resource
import time

import torch

from evenet.bench import device_description

# Dense bf16 tensor-core peak (FLOP/s) for the model-FLOP utilisation of known GPUs.
_PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}
_DEFAULT_BATCH = {"tiny": 256, "lite": 256, "standard": 128}
_FINETUNE_TASKS = ("classification", "assignment")


def _peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in _PEAK_BF16.items() if k in name), None)


def _body_flops(model, batch) -> float:
    """FLOPs of one forward of the body on one clean copy of ``batch`` (per the counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.body(**model.inputs(batch))
    return float(counter.get_total_flops())


def bench_model(
    preset_name: str,
    *,
    batch_size: int | None = None,
    steps: int = 5,
    mode: str = "pretrain",
    device: str | None = None,
    bf16: bool = False,
    compile: bool = False,
) -> dict:
    from evenet.model.summary import build_for_summary, parameter_table
    from evenet.model.synthetic import synthetic_batch

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = build_for_summary(preset_name).to(dev).train()
    params = parameter_table(model)
    batch_size = batch_size or _DEFAULT_BATCH.get(preset_name, 256)
    batch = synthetic_batch(batch_size, model.topologies, model.config.num_classes, seed=1)
    batch = {k: v.to(dev) for k, v in batch.items()}
    tasks = _FINETUNE_TASKS if mode == "finetune" else tuple(model.heads.keys())
    copies = 1 if mode == "finetune" else 2  # pretraining encodes a clean and a noised copy
    flops_per_copy = _body_flops(model, batch) / batch_size

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    losses_fn = torch.compile(model.losses) if compile else model.losses

    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            terms = losses_fn(batch, tasks=tasks)
            loss = torch.stack(list(terms.values())).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for _ in range(2):  # warm-up (and compilation)
        step()
    sync()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = step()
    sync()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    events_per_s = steps * batch_size / wall
    # Body FLOPs per encoded copy, x3 for forward + backward (heads excluded: they are small).
    achieved = 3 * flops_per_copy * copies * events_per_s
    peak = _peak_flops(dev)
    if dev.type == "cuda":
        peak_mem = torch.cuda.max_memory_allocated(dev) / 2**20
        device_name = f"cuda: {torch.cuda.get_device_name(dev)}"
    else:
        peak_mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        device_name = device_description()
    return {
        "bench": "model",
        "device": device_name,
        "preset": preset_name,
        "mode": mode,
        "tasks": list(tasks),
        "params_total": params["params_total"],
        "params_body": params["params_body"],
        "params_heads": params["params_heads"],
        "batch_size": batch_size,
        "encoded_copies_per_event": copies,
        "events_per_s": events_per_s,
        "steps_per_s": steps / wall,
        "body_gflops_per_copy": flops_per_copy / 1e9,
        "achieved_tflops": achieved / 1e12,
        "mfu": achieved / peak if peak else None,
        "peak_mem_mb": peak_mem,
        "bf16": bf16,
        "compile": compile,
        "final_loss": float(loss.detach()),
        "cpu_per_wall": cpu / wall,
    }
