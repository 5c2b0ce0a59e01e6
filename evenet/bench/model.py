"""`evenet bench model`: training-step throughput, memory and FLOPs of a preset."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import torch

from evenet.bench.common import device_description

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


def body_flops_per_copy(model, events: int = 8) -> float:
    """Body forward FLOPs per event and encoded copy, counted on the CPU on a synthetic batch
    (the body works on padded slots, so the count does not depend on the multiplicity)."""
    from evenet.model.synthetic import synthetic_batch

    batch = synthetic_batch(events, model.topologies, model.config.num_classes, seed=1)
    batch = {k: v.to(next(model.parameters()).device) for k, v in batch.items()}
    return _body_flops(model, batch) / events


def utilisation(flops_per_copy: float, copies: int, events_per_s: float, device) -> tuple:
    """(achieved TFLOP/s, model-FLOP utilisation or None): body FLOPs x3 for forward +
    backward (heads excluded: they are small)."""
    achieved = 3 * flops_per_copy * copies * events_per_s
    peak = _peak_flops(torch.device(device))
    return achieved / 1e12, (achieved / peak if peak else None)


def write_profile(step, path: str | Path, device: torch.device) -> dict:
    """Profile one call of ``step`` and write the operator table (sorted by device time on a
    GPU, CPU time otherwise) to ``path``; returns the step's wall time and, on a GPU, the
    summed kernel time and kernel count (their ratio to the wall time shows launch-bound
    steps)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        wall0 = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall = time.perf_counter() - wall0
    averages = prof.key_averages()
    result = {"profile": str(path), "profile_step_ms": wall * 1e3}
    if device.type == "cuda":
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        result["profile_kernels"] = len(kernels)
        result["profile_kernel_ms"] = sum(e.device_time for e in kernels) / 1e3
        sort = "self_device_time_total"
    else:
        sort = "self_cpu_time_total"
    header = "".join(f"{k}: {v}\n" for k, v in result.items())
    Path(path).write_text(header + averages.table(sort_by=sort, row_limit=60) + "\n")
    return result


def bench_model(
    preset_name: str,
    *,
    batch_size: int | None = None,
    steps: int = 5,
    mode: str = "pretrain",
    device: str | None = None,
    bf16: bool = False,
    compile: bool = False,
    compile_mode: str = "default",
    profile: str | None = None,
    audit: bool = False,
    topologies: list[str] | None = None,
) -> dict:
    from evenet.model.opcount import count_ops, float32_matmuls, host_syncs
    from evenet.model.summary import build_for_summary, parameter_table
    from evenet.model.synthetic import synthetic_batch

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = build_for_summary(preset_name, topologies=topologies).to(dev).train()
    params = parameter_table(model)
    batch_size = batch_size or _DEFAULT_BATCH.get(preset_name, 256)
    batch = synthetic_batch(batch_size, model.topologies, model.config.num_classes, seed=1)
    batch = {k: v.to(dev) for k, v in batch.items()}
    tasks = _FINETUNE_TASKS if mode == "finetune" else tuple(model.heads.keys())
    copies = 1 if mode == "finetune" else 2  # pretraining encodes a clean and a noised copy
    flops_per_copy = _body_flops(model, batch) / batch_size

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.type == "cuda")
    if dev.type == "cuda":
        torch.set_float32_matmul_precision("high")
    if compile:
        model.compile_body(compile_mode)  # as training does: the body only
    losses_fn = model.losses

    def forward_backward():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            terms = losses_fn(batch, tasks=tasks)
            loss = torch.stack(list(terms.values())).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return loss

    def step():
        loss = forward_backward()
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
    profiled = write_profile(step, profile, dev) if profile else {}
    # The optimizer is left out: fused on a GPU, a loop per tensor on the CPU.
    ops = sum(count_ops(forward_backward).values()) if not compile else None
    audited = (
        {"float32_matmuls": float32_matmuls(step), "host_syncs": host_syncs(step, dev)}
        if audit
        else {}
    )
    events_per_s = steps * batch_size / wall
    achieved_tflops, mfu = utilisation(flops_per_copy, copies, events_per_s, dev)
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
        "topologies": [t["name"] for t in model.topologies],
        "params_total": params["params_total"],
        "params_body": params["params_body"],
        "params_heads": params["params_heads"],
        "batch_size": batch_size,
        "encoded_copies_per_event": copies,
        "events_per_s": events_per_s,
        "steps_per_s": steps / wall,
        "body_gflops_per_copy": flops_per_copy / 1e9,
        "achieved_tflops": achieved_tflops,
        "mfu": mfu,
        "peak_mem_mb": peak_mem,
        "bf16": bf16,
        "compile": compile,
        "compile_mode": compile_mode if compile else None,
        "final_loss": float(loss.detach()),
        "ops_per_step": ops,
        "cpu_per_wall": cpu / wall,
        **profiled,
        **audited,
    }
