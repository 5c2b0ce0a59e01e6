"""The fused residual update of the body's blocks."""

from __future__ import annotations

import torch

from evenet.model.blocks import DropPath, LayerScale, residual


def test_fused_residual_equals_the_step_by_step_update():
    """Guards against the fused update dropping other copies than DropPath would, rescaling
    kept copies wrongly, or letting masked slots change."""
    h, branch = torch.randn(64, 18, 8), torch.randn(64, 18, 8)
    mask = (torch.rand(64, 18, 1) < 0.7).float()
    scale, drop = LayerScale(8, 0.5), DropPath(0.5).train()
    torch.manual_seed(3)
    want = h + drop(scale(branch)) * mask
    torch.manual_seed(3)
    got = residual(h, branch, scale, drop, mask)
    torch.testing.assert_close(got, want)
    unchanged = (got == h).all(-1).all(-1)
    assert 0 < int(unchanged.sum()) < 64  # some copies dropped, some kept
    assert torch.equal(got[mask.squeeze(-1) == 0], h[mask.squeeze(-1) == 0])
    torch.testing.assert_close(residual(h, branch, scale, drop.eval()), h + scale(branch))
