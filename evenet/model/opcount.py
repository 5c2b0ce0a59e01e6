"""Operators dispatched by a training step: a device-independent measure of launch overhead.

On a GPU each non-view ATen operator is (roughly) one kernel launch, and a step made of
thousands of small kernels is bound by launching them rather than by arithmetic (see the
README's GPU benchmarks). Counting them on the CPU tracks that cost without a GPU.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# Operators that allocate or relabel memory without computing anything.
_FREE = {"detach", "empty", "empty_like", "empty_strided", "lift_fresh", "alias"}


class _Counter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if not func.is_view and name not in _FREE:
            self.counts[name] += 1
        return func(*args, **(kwargs or {}))


def count_ops(fn) -> Counter[str]:
    """Non-view ATen operators dispatched while ``fn()`` runs (autograd's backward included)."""
    counter = _Counter()
    with counter:
        fn()
    return counter.counts


_MATMULS = {"mm", "addmm", "bmm", "baddbmm", "addbmm", "matmul", "linear"}


def _caller() -> str:
    """The innermost evenet source line on the Python stack, or "backward" inside autograd's
    engine (the backward pass runs outside any model code)."""
    import traceback

    if torch._C._current_graph_task_id() != -1:  # inside autograd's engine
        return "backward"
    for frame in reversed(traceback.extract_stack()):
        if "/evenet/" in frame.filename and not frame.filename.endswith("opcount.py"):
            return f"{frame.filename.rsplit('/evenet/', 1)[-1]}:{frame.lineno}"
    return "outside evenet"


class _Float32Matmuls(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.where: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in _MATMULS and any(
            isinstance(a, torch.Tensor) and a.dtype == torch.float32 for a in args
        ):
            self.where[_caller()] += 1
        return func(*args, **(kwargs or {}))


def float32_matmuls(fn) -> dict[str, int]:
    """Matrix products with float32 operands while ``fn()`` runs, by model source line: under
    bf16 autocast these should be none (each is a slow, non-tensor-core path)."""
    mode = _Float32Matmuls()
    with mode:
        fn()
    return dict(mode.where.most_common())


def host_syncs(fn, device: torch.device) -> dict[str, int] | None:
    """Operations that made the host wait for the GPU while ``fn()`` runs, by source line
    (CUDA's sync debug mode); None off CUDA, where there is nothing to wait for."""
    if device.type != "cuda":
        return None
    import warnings

    torch.cuda.synchronize(device)
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    where: Counter[str] = Counter(
        f"{w.filename.rsplit('/evenet/', 1)[-1]}:{w.lineno}"
        for w in caught
        if "synchroniz" in str(w.message)
    )
    return dict(where.most_common())
