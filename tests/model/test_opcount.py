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


def test_float32_matmuls_reports_products_that_escape_autocast():
    """Guards the bf16 audit: a product autocast turned into bf16 is not reported, one run in
    float32 is, and so is its backward."""
    from evenet.model.opcount import float32_matmuls

    w = torch.randn(3, 3, requires_grad=True)
    x = torch.randn(2, 3)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = torch.mm(x, w)  # autocast: bf16 operands
            with torch.autocast("cpu", enabled=False):
                full = torch.mm(x, w)  # float32
        (low.float().sum() + full.sum()).backward()

    found = float32_matmuls(step)
    assert found.get("outside evenet") == 1  # the float32 forward product, not the bf16 one
    assert found.get("backward", 0) >= 1


def test_host_syncs_is_none_off_cuda():
    from evenet.model.opcount import host_syncs

    assert host_syncs(lambda: None, torch.device("cpu")) is None
