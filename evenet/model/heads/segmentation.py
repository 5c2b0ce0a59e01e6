"""DETR/MaskFormer-style segmentation: which object slots come from which resonance.

Learned queries attend to the object tokens; each query predicts a class (a resonance TYPE
0..C-1 from the topologies' `types`, or C = no resonance) and a mask logit per object slot.
True instances are the resonance rows of the event's topology present in the batch
`segmentation`, each classed by its type (the two tops of tt̄ are two instances of class t,
whatever the topology's row order); queries are matched to them by the exact minimum-cost
assignment, found by enumerating partial permutations of queries for the whole batch at once.
Events whose topology the head does not know (-1: no truth topology) are left out of the loss.
"""

from __future__ import annotations

import functools
import itertools
import math

import pyarrow as pa
import torch
import torch.nn.functional as F
from torch import nn

from evenet.io.columns import tensor_type
from evenet.io.schema import N_OBJECTS
from evenet.io.topologies import resonance_types
from evenet.model.config import ModelConfigError
from evenet.model.encoded import Encoded
from evenet.model.heads.assignment import key_padding_mask, large_negative
from evenet.model.heads.contract import Head, LossContext, PredictContext, PredictSettings

MAX_PERMUTATIONS = 100_000  # Q!/(Q-T)! beyond this the enumeration gets too costly


@functools.lru_cache(maxsize=16)
def _query_permutations(queries: int, instances: int, device=None) -> torch.Tensor:
    """(P, T): every ordered choice of T distinct queries out of Q, kept on ``device`` (a host
    to GPU copy on every call would make the host wait for the GPU)."""
    perms = list(itertools.permutations(range(queries), instances))
    if len(perms) > MAX_PERMUTATIONS:
        raise ValueError(f"{len(perms)} permutations of {queries} queries: too many to enumerate")
    return torch.tensor(perms, dtype=torch.long, device=device).view(len(perms), instances)


def min_cost_matching(cost: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Exact min-cost matching of instances to distinct queries, batched.

    cost (B, Q, T): cost of giving instance t to query q; valid (B, T) bool: instances that
    exist (absent ones cost nothing, so they never steer the matching). Returns (B, T) long:
    the query of each valid instance, -1 for invalid ones. Needs Q >= T.
    """
    batch, queries, instances = cost.shape
    if instances > queries:
        raise ValueError(f"{instances} instances cannot be matched to {queries} queries")
    perms = _query_permutations(queries, instances, cost.device)  # (P, T)
    columns = torch.arange(instances, device=cost.device)
    per_perm = cost.detach()[:, perms, columns]  # (B, P, T)
    per_perm = torch.where(valid.unsqueeze(1), per_perm, torch.zeros_like(per_perm))
    best = per_perm.sum(-1).argmin(-1)  # (B,)
    chosen = perms[best]
    return torch.where(valid, chosen, torch.full_like(chosen, -1))


def pairwise_mask_cost(logits: torch.Tensor, target: torch.Tensor, real: torch.Tensor):
    """(B, Q, T) mean BCE plus dice loss between each query's mask and each instance's mask,
    over real slots only. logits (B, Q, N), target (B, T, N) float, real (B, N) bool."""
    w = real.to(logits.dtype).unsqueeze(1)  # (B, 1, N)
    count = w.sum(-1, keepdim=True).clamp(min=1.0)
    safe = torch.where(w.bool(), logits, torch.zeros_like(logits))
    # BCE(x, y) = softplus(x) - x*y, summed over slots: the y-term is a batched matmul.
    positive = (F.softplus(safe) * w).sum(-1, keepdim=True)
    bce = (positive - torch.einsum("bqn,btn->bqt", safe * w, target)) / count
    prob = safe.sigmoid() * w
    overlap = torch.einsum("bqn,btn->bqt", prob, target)
    dice = 1 - (2 * overlap + 1) / (prob.sum(-1, keepdim=True) + target.sum(-1).unsqueeze(1) + 1)
    return bce + dice


class SegmentationHead(Head):
    """Set prediction of resonance instances over the object slots (see the module doc).
    Predicts per object slot ``segmentation`` (its resonance type, an index into ``types``,
    recorded as the prediction metadata ``segmentation_types``) and ``segmentation_instance``
    (slots with the same value come from one resonance); -1 for none."""

    def training_loss(self, enc: Encoded, ctx: LossContext) -> torch.Tensor:
        return self.loss(self(enc), ctx.batch, ctx.weight)

    def prediction_fields(self, settings: PredictSettings) -> list[pa.Field]:
        return [
            pa.field("segmentation", tensor_type(pa.int8(), N_OBJECTS)),
            pa.field("segmentation_instance", tensor_type(pa.int8(), N_OBJECTS)),
        ]

    def predict_outputs(self, enc: Encoded, ctx: PredictContext) -> dict[str, torch.Tensor]:
        found = self.predict(self(enc))
        return {"segmentation": found["segmentation"], "segmentation_instance": found["instance"]}

    def prediction_metadata(self) -> dict:
        return {"segmentation_types": list(self.types)}

    def __init__(
        self,
        hidden: int,
        topologies: list[dict],
        *,
        layers: int = 1,
        heads: int = 4,
        dropout: float = 0.0,
        no_object_weight: float = 0.1,
    ):
        super().__init__()
        self.types = resonance_types(topologies)
        self.num_classes = len(self.types)
        rows = max((len(t.get("resonances") or {}) for t in topologies), default=0)
        if self.num_classes == 0:
            raise ModelConfigError(
                "the segmentation task needs a topology with resonances; the dataset has none "
                "(drop segmentation from the tasks)"
            )
        self.rows = rows
        num_queries = rows  # at most one instance per resonance row
        _query_permutations(num_queries, rows)  # fail early if too many to enumerate
        # (topology id, row) -> class of that row's type, -1 where the row does not exist.
        ids = [int(t["id"]) for t in topologies]
        table = torch.full((max(ids) + 1, rows), -1, dtype=torch.long)
        for t in topologies:
            for row, name in enumerate(t.get("resonances") or {}):
                table[int(t["id"]), row] = self.types.index(t["types"][name])
        self.register_buffer("row_types", table, persistent=False)
        self.queries = nn.Parameter(torch.randn(num_queries, hidden) * hidden**-0.5)
        self.event_in = nn.Linear(hidden, hidden)
        self.blocks = nn.ModuleList(
            nn.TransformerDecoderLayer(
                hidden,
                heads,
                dim_feedforward=2 * hidden,
                dropout=dropout,
                batch_first=True,
                norm_first=True,
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(hidden)
        self.token_norm = nn.LayerNorm(hidden)
        self.classifier = nn.Linear(hidden, self.num_classes + 1)
        self.mask_query = nn.Linear(hidden, hidden)
        self.mask_token = nn.Linear(hidden, hidden)
        # DETR down-weights the (majority) no-object class.
        weight = torch.ones(self.num_classes + 1)
        weight[-1] = no_object_weight
        self.register_buffer("class_weight", weight, persistent=False)

    def forward(self, enc: Encoded) -> dict[str, torch.Tensor]:
        mask = enc.mask.bool()
        batch = mask.shape[0]
        query = self.queries.unsqueeze(0).expand(batch, -1, -1) + self.event_in(enc.event)[:, None]
        pad = key_padding_mask(mask)
        for block in self.blocks:
            query = block(query, enc.tokens, memory_key_padding_mask=pad)
        query = self.norm(query)
        keys = self.mask_token(self.token_norm(enc.tokens))
        mask_logits = torch.einsum("bqh,bnh->bqn", self.mask_query(query), keys)
        mask_logits = mask_logits / math.sqrt(keys.shape[-1])
        mask_logits = mask_logits.masked_fill(~mask.unsqueeze(1), large_negative(mask_logits.dtype))
        return {"class_logits": self.classifier(query), "mask_logits": mask_logits}

    def _instances(self, batch: dict):
        """Target masks (B, R, N) float, their presence (B, R), each row's class (B, R; -1 for
        rows the event's topology lacks), the real slots (B, N) and the events the head knows a
        topology of (B,)."""
        real = batch["x_mask"].bool()
        seg = batch["segmentation"].long()
        seg = torch.where(real, seg, torch.full_like(seg, -1))  # junk on padded slots is ignored
        topology = batch["topology"].long()
        known = (topology >= 0) & (topology < self.row_types.shape[0])
        row_class = self.row_types[topology.clamp(0, self.row_types.shape[0] - 1)]
        row_class = torch.where(known.unsqueeze(-1), row_class, torch.full_like(row_class, -1))
        rows = torch.arange(self.rows, device=seg.device)
        member = seg.unsqueeze(1) == rows.view(1, -1, 1)  # (B, R, N)
        present = member.any(-1) & (row_class >= 0)
        return member & present.unsqueeze(-1), present, row_class, real, row_class.ge(0).any(-1)

    def loss(self, out: dict, batch: dict, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Weighted class CE over all queries (matched -> the instance's type, unmatched -> no
        resonance) plus mask BCE over the real slots of matched queries; matching by
        `min_cost_matching`. Events weighted by ``weight`` (B,) when given (normalised by summed
        |weight|, as `weighted_mean`); events without a known topology weigh 0."""
        class_logits, mask_logits = out["class_logits"], out["mask_logits"]
        member, present, row_class, real, known = self._instances(batch)
        target = member.to(mask_logits.dtype)
        with torch.no_grad():
            class_prob = class_logits.float().softmax(-1)  # (B, Q, C+1)
            index = row_class.clamp(min=0).unsqueeze(1).expand(-1, class_prob.shape[1], -1)
            cost = pairwise_mask_cost(mask_logits.float(), target.float(), real)
            cost = cost - class_prob.gather(2, index)  # (B, Q, R)
            matched = min_cost_matching(cost, present)  # (B, R)
        queries = torch.arange(class_logits.shape[1], device=matched.device)
        pairs = matched.unsqueeze(1) == queries.view(1, -1, 1)  # (B, Q, R); -1 never matches
        is_matched = pairs.any(-1)
        no_object = torch.full_like(is_matched, self.num_classes, dtype=torch.long)
        instance_class = torch.einsum("bqr,br->bq", pairs.long(), row_class.clamp(min=0))
        class_target = torch.where(is_matched, instance_class, no_object)
        ce = F.cross_entropy(class_logits.transpose(1, 2), class_target, reduction="none")
        w = torch.ones_like(ce[:, 0]) if weight is None else weight.to(ce.dtype)
        w = (w * known.to(ce.dtype)).unsqueeze(1)
        ce_weight = self.class_weight.to(ce.dtype)[class_target]  # (B, Q)
        class_loss = (ce * ce_weight * w).sum() / (ce_weight * w.abs()).sum().clamp(min=1e-6)
        mask_target = torch.einsum("bqc,bcn->bqn", pairs.to(target.dtype), target)
        safe = torch.where(real.unsqueeze(1), mask_logits, torch.zeros_like(mask_logits))
        bce = F.binary_cross_entropy_with_logits(safe, mask_target, reduction="none")
        slot_weight = real.unsqueeze(1) & is_matched.unsqueeze(-1)
        bce = torch.where(slot_weight, bce, torch.zeros_like(bce)).sum(-1)
        per_query = bce / real.sum(-1, keepdim=True).clamp(min=1)  # mean over real slots
        matched_w = is_matched.to(w.dtype) * w.abs()
        mask_loss = (per_query * w).sum() / matched_w.sum().clamp(min=1e-6)
        return class_loss + mask_loss

    @torch.no_grad()
    def predict(self, out: dict) -> dict[str, torch.Tensor]:
        """Per slot: `segmentation` (B, N) the resonance type (index into ``types``) of the
        query maximising mask prob x class prob, `instance` (B, N) that query (slots sharing
        it come from one resonance), both -1 when that query says no resonance or its mask
        prob < 0.5, and for padded slots; and that `score` (B, N)."""
        class_prob = out["class_logits"].float().softmax(-1)
        top_prob, top_class = class_prob.max(-1)  # (B, Q)
        mask_prob = out["mask_logits"].float().sigmoid()  # padded slots are ~0
        is_object = top_class < self.num_classes
        score = mask_prob * (top_prob * is_object).unsqueeze(-1)  # (B, Q, N)
        best_score, best_query = score.max(1)  # (B, N)
        kind = top_class.gather(1, best_query)
        keep = (best_score > 0) & (mask_prob.gather(1, best_query.unsqueeze(1)).squeeze(1) > 0.5)
        none = torch.full_like(kind, -1)
        return {
            "segmentation": torch.where(keep, kind, none),
            "instance": torch.where(keep, best_query, none),
            "score": best_score,
        }
