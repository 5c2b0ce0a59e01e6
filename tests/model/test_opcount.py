"""The operator count behind `ops_per_step` in `evenet bench model`."""

from __future__ import annotations

import torch

from evenet.model.opcount import count_ops


def test_counts_computing_operators_and_skips_views():
    """Guards against the launch-overhead proxy counting free reshapes or missing the backward."""
    a = torch.randn(4, 3, requires_grad=True)

    def step():
        y = (a * 2.0).relu().view(-1)
        y.sum().backward()

    counts = count_ops(step)
    assert counts["mul"] >= 1 and counts["relu"] == 1 and counts["sum"] == 1
    assert "view" not in counts and "detach" not in counts
    assert counts["threshold_backward"] == 1  # the backward pass is counted too
