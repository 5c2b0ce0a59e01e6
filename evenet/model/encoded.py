"""What the body hands every head: one encoding per event copy in the batch."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Encoded:
    """Body outputs of B event copies.

    tokens: (B, N, H) one vector per object slot (N = 18); padding slots carry no meaning.
    mask:   (B, N) bool, True for real objects (padding never mixes into real slots).
    event:  (B, H) the global/event token after the last block.
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    event: torch.Tensor

    def select(self, rows: slice | torch.Tensor) -> Encoded:
        """The encodings of a subset of copies (e.g. the clean half of a doubled batch)."""
        return Encoded(self.tokens[rows], self.mask[rows], self.event[rows])

    def pooled(self) -> torch.Tensor:
        """(B, 2H): the event token beside the masked mean of the object tokens."""
        weights = self.mask.unsqueeze(-1).to(self.tokens.dtype)
        mean = (self.tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return torch.cat([self.event, mean], dim=-1)
