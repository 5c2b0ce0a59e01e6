"""Operators dispatched by a training step: a device-independent measure of launch overhead.

On a GPU each non-view ATen operator is (roughly) one kernel launch, and a step made of
thousands of small kernels is bound by launching them rather than by arithmetic (see the
README's GPU benchmarks). Counting them on the CPU tracks that cost without a GPU.
"""

from __future__ import annotations

from collections import Counter

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
