"""SPANet-style symmetric tensor attention: which reconstructed objects each resonance decays to.

One `AssignmentHead` serves one topology. For a resonance with D daughters it scores every
D-tuple of object slots with a rank-`dim` product tensor

    logits[i1, ..., iD] = sum_k prod_d P_d(tok_{i_d})_k / sqrt(dim),

where daughters of one daughter-symmetry group share their projection P_d, so the tensor is
symmetric in them by construction. Tuples touching a padded slot or repeating a slot are masked
and one softmax runs over all remaining tuples. A detection logit per resonance predicts whether
all of its daughters were reconstructed. The loss is minimised over the declared permutations of
interchangeable resonances (whole subtrees, e.g. a1 <-> a2 in haa_4b). As in SPANet, a
symmetric-divergence term exp(-JSD(p_i, p_j)^2) per pair of interchangeable resonances keeps
their distributions apart (two heads that both point at the same pair of jets otherwise cost
little under the min over permutations); it is weighted by ``divergence_weight``.
"""

from __future__ import annotations

import functools
import itertools
import math
import string

import pyarrow as pa
import torch
import torch.nn.functional as F
from torch import nn

from evenet.io.columns import tensor_type
from evenet.model.encoded import Encoded
from evenet.model.heads.contract import Head, LossContext, PredictContext, PredictSettings


def large_negative(dtype: torch.dtype) -> float:
    """A finite stand-in for -inf: half the most negative value, so x - max never overflows."""
    return torch.finfo(dtype).min / 2


def key_padding_mask(mask: torch.Tensor) -> torch.Tensor:
    """~mask for attention, but an event without any real object keeps slot 0 as a key.

    A row whose keys are all masked gives NaN attention weights (0/0); its outputs are unused.
    """
    pad = ~mask.bool()
    empty = pad.all(-1)
    pad[:, 0] = pad[:, 0] & ~empty
    return pad


@functools.lru_cache(maxsize=64)
def distinct_tuples(n: int, d: int, device: torch.device | None = None) -> torch.Tensor:
    """(n,)*d bool: True where all d indices differ. A cached constant (do not modify it):
    building it costs a dozen kernel launches per call on a GPU."""
    ok = torch.ones((n,) * d, dtype=torch.bool, device=device)
    idx = torch.arange(n, device=device)
    for a, b in itertools.combinations(range(d), 2):
        shape_a, shape_b = [1] * d, [1] * d
        shape_a[a], shape_b[b] = n, n
        ok = ok & (idx.view(shape_a) != idx.view(shape_b))
    return ok


def valid_tuples(mask: torch.Tensor, d: int) -> torch.Tensor:
    """(B, N, ..., N) bool: tuples of d distinct real slots."""
    batch, n = mask.shape
    ok = distinct_tuples(n, d, mask.device).unsqueeze(0).expand(batch, *(n,) * d)
    for axis in range(d):
        shape = [batch] + [1] * d
        shape[axis + 1] = n
        ok = ok & mask.bool().view(shape)
    return ok


def _touching(used: torch.Tensor, d: int) -> torch.Tensor:
    """(B, N^d) bool: tuples of d slots with at least one slot in ``used`` (B, N)."""
    batch, n = used.shape
    hit = torch.zeros((batch, *(n,) * d), dtype=torch.bool, device=used.device)
    for axis in range(d):
        shape = [batch] + [1] * d
        shape[axis + 1] = n
        hit = hit | used.view(shape)
    return hit.flatten(1)


def product_tensor(factors: list[torch.Tensor]) -> torch.Tensor:
    """sum_k prod_d factors[d][b, i_d, k] as (B, N, ..., N) via one einsum."""
    letters = string.ascii_lowercase[: len(factors)]
    inputs = ",".join(f"z{c}y" for c in letters)
    return torch.einsum(f"{inputs}->z{letters}", *factors)


@functools.lru_cache(maxsize=64)
def _place_values(n: int, d: int, device: torch.device) -> torch.Tensor:
    """(n**(d-1), ..., n, 1): the row-major strides of an (n,)*d tensor (cached constant)."""
    return torch.tensor([n ** (d - 1 - j) for j in range(d)], dtype=torch.long, device=device)


def flat_index(tuples: torch.Tensor, n: int) -> torch.Tensor:
    """(..., D) slot tuples -> index into the flattened (N,)*D tensor (row-major)."""
    return (tuples * _place_values(n, tuples.shape[-1], tuples.device)).sum(-1)


def unflatten_index(flat: torch.Tensor, n: int, d: int) -> torch.Tensor:
    """Inverse of `flat_index`: (...,) -> (..., D)."""
    digits = []
    for _ in range(d):
        digits.append(flat % n)
        flat = torch.div(flat, n, rounding_mode="floor")
    return torch.stack(digits[::-1], dim=-1)


def group_by_topology(
    topology: torch.Tensor, ids: list[int]
) -> tuple[torch.Tensor, dict[int, slice]]:
    """Events grouped by topology with a single host sync (one per head would stall the host
    once per topology): ``order`` sorts the batch by topology id and ``groups[id]`` is the
    slice of ``order`` holding that topology's events (ids without events are left out)."""
    topology = topology.long()
    order = torch.argsort(topology, stable=True)
    # Ids below -1 (none expected) and above the largest known id fall outside every group.
    shifted = (topology + 1).clamp(min=0)
    counts = torch.bincount(shifted, minlength=max(ids, default=-1) + 2).tolist()
    groups, start = {}, 0
    for value, count in enumerate(counts):
        if value - 1 in ids and count:
            groups[value - 1] = slice(start, start + count)
        start += count
    return order, groups


def resonance_permutations(topology: dict) -> list[tuple[int, ...]]:
    """Row permutations allowed by the resonance symmetries (identity first)."""
    names = list(topology["resonances"])
    groups = [[names.index(r) for r in group] for group in topology["symmetries"]["resonances"]]
    perms = []
    for choice in itertools.product(*(itertools.permutations(g) for g in groups)):
        perm = list(range(len(names)))
        for group, image in zip(groups, choice, strict=True):
            for src, dst in zip(group, image, strict=True):
                perm[src] = dst
        perms.append(tuple(perm))
    return perms or [tuple(range(len(names)))]


def symmetric_pairs(topology: dict) -> list[tuple[int, int]]:
    """Row pairs (i, j), i < j, of interchangeable resonances."""
    names = list(topology["resonances"])
    return [
        (names.index(a), names.index(b))
        for group in topology["symmetries"]["resonances"]
        for a, b in itertools.combinations(group, 2)
    ]


def jensen_shannon(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """(B,) Jensen-Shannon divergence (nats, at most ln 2) of two (B, K) log-distributions.
    Masked entries hold a large negative finite log-probability: every term stays finite."""
    log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)
    kl_p = (log_p.exp() * (log_p - log_m)).sum(-1)
    kl_q = (log_q.exp() * (log_q - log_m)).sum(-1)
    return 0.5 * (kl_p + kl_q)


def daughter_groups(topology: dict) -> list[list[int]]:
    """Per resonance, a projection id per daughter: equal ids for symmetric daughters."""
    owner = {
        name: (r, j)
        for r, daughters in enumerate(topology["resonances"].values())
        for j, name in enumerate(daughters)
    }
    groups = [list(range(len(ds))) for ds in topology["resonances"].values()]
    for group in topology["symmetries"]["daughters"]:
        rows = {owner[name][0] for name in group}
        if len(rows) != 1:
            raise ValueError(f"daughter symmetry group {group} spans several resonances")
        r = rows.pop()
        first = min(owner[name][1] for name in group)
        for name in group:
            groups[r][owner[name][1]] = first
    return groups


def _sort_within_groups(tuples: torch.Tensor, groups: list[int]) -> torch.Tensor:
    """Canonical ordering: slot indices sorted within each daughter-symmetry group."""
    out = tuples.clone()
    for g in set(groups):
        cols = [j for j, gid in enumerate(groups) if gid == g]
        if len(cols) > 1:
            out[..., cols] = tuples[..., cols].sort(-1).values
    return out


class AssignmentHead(nn.Module):
    """Symmetric tensor attention for the resonances of one topology (see the module doc)."""

    def __init__(
        self,
        hidden: int,
        topology: dict,
        *,
        dim: int = 64,
        layers: int = 1,
        heads: int = 4,
        dropout: float = 0.0,
        divergence_weight: float = 1.0,
    ):
        super().__init__()
        self.topology_id = int(topology["id"])
        self.divergence_weight = float(divergence_weight)
        self.name = str(topology["name"])
        self.daughters = [len(ds) for ds in topology["resonances"].values()]
        if any(d < 1 for d in self.daughters):
            raise ValueError(f"{self.name}: each resonance needs at least one daughter")
        self.groups = daughter_groups(topology)
        # log of the number of orderings of a target that the symmetric tensor scores equally:
        # the NLL is that of the unordered daughter set (its floor is 0, not log 2 per pair).
        self.log_orderings = [
            sum(math.lgamma(groups.count(g) + 1) for g in set(groups)) for groups in self.groups
        ]
        self.perms = resonance_permutations(topology)
        self.symmetric_pairs = symmetric_pairs(topology)
        # On the model's device, not copied there on every loss call.
        self.register_buffer("perm_table", torch.tensor(self.perms), persistent=False)
        for perm in self.perms:
            if any(self.daughters[r] != self.daughters[p] for r, p in enumerate(perm)):
                raise ValueError(f"{self.name}: symmetric resonances differ in daughter count")
        self.dim = dim
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
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
        # One projection per (resonance, daughter-symmetry group).
        self.projections = nn.ModuleList(
            nn.ModuleList(nn.Linear(hidden, dim) for _ in range(len(set(groups))))
            for groups in self.groups
        )
        self.detector = nn.Sequential(
            nn.LayerNorm(2 * hidden),
            nn.Linear(2 * hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, len(self.daughters)),
        )

    def forward(self, enc: Encoded) -> dict:
        mask = enc.mask.bool()
        tokens = enc.tokens
        pad = key_padding_mask(mask)
        for block in self.blocks:
            tokens = block(tokens, src_key_padding_mask=pad)
        tokens = self.norm(tokens)
        valid = {d: valid_tuples(mask, d) for d in set(self.daughters)}  # shared by resonances
        log_probs = [self._log_probs(tokens, valid, r) for r in range(len(self.daughters))]
        pooled = Encoded(tokens, mask, enc.event).pooled()
        return {"log_probs": log_probs, "detection": self.detector(pooled), "mask": mask}

    def _log_probs(self, tokens: torch.Tensor, valid: dict, r: int) -> torch.Tensor:
        """(B, N, ..., N) log-probabilities over the daughter tuples of resonance r
        (``valid``: the valid-tuple masks by daughter count)."""
        ids = sorted(set(self.groups[r]))
        projected = {g: proj(tokens) for g, proj in zip(ids, self.projections[r], strict=True)}
        factors = [projected[g] for g in self.groups[r]]
        logits = product_tensor(factors) / math.sqrt(self.dim)
        logits = logits.masked_fill(~valid[len(factors)], large_negative(logits.dtype))
        batch = logits.shape[0]
        return logits.reshape(batch, -1).log_softmax(-1).view_as(logits)

    def _targets(self, batch: dict, mask: torch.Tensor) -> tuple[list, list]:
        """Per batch row: canonical target tuples (B, D_r) and whether they are usable (B,)."""
        assignment = batch["assignment"].long()
        n = mask.shape[1]
        tuples, usable = [], []
        for r, d in enumerate(self.daughters):
            target = assignment[:, r, :d]
            matched = (target >= 0).all(-1)
            target = _sort_within_groups(target.clamp(min=0), self.groups[r])
            # A tuple on a padded or repeated slot (broken truth) is skipped, not scored -inf.
            real = mask.gather(1, target).all(-1)
            distinct = distinct_tuples(n, d, mask.device).flatten()[flat_index(target, n)]
            tuples.append(target)
            usable.append(matched & real & distinct)
        return tuples, usable

    def divergence(self, out: dict, usable: list[torch.Tensor]) -> torch.Tensor:
        """(B,) SPANet's symmetric-divergence term: mean over pairs of interchangeable
        resonances of exp(-JSD^2) between their tuple distributions (1 when identical), zero
        where either resonance's target is not usable."""
        terms = []
        for i, j in self.symmetric_pairs:
            log_p, log_q = out["log_probs"][i].flatten(1), out["log_probs"][j].flatten(1)
            term = torch.exp(-(jensen_shannon(log_p.float(), log_q.float()) ** 2))
            terms.append(torch.where(usable[i] & usable[j], term, torch.zeros_like(term)))
        return torch.stack(terms).mean(0)

    def loss(self, out: dict, batch: dict, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Mean over this topology's events (weighted by ``weight`` (B,) when given, as
        `weighted_mean`) of min over resonance permutations of the summed assignment NLL,
        plus the detection BCE under the chosen permutation, plus the weighted symmetric-
        divergence term (`divergence`)."""
        mask = out["mask"]
        n = mask.shape[1]
        use = batch["topology"].long() == self.topology_id
        tuples, usable = self._targets(batch, mask)
        # Detection target: the resonance's daughters are all distinct real objects (a daughter
        # on a padded or repeated slot, i.e. broken truth, cannot be found: not "detected").
        reconstructable = torch.stack(usable, dim=-1)
        cache: dict[tuple[int, int], torch.Tensor] = {}

        def nll(head: int, row: int) -> torch.Tensor:
            if (head, row) not in cache:
                flat = out["log_probs"][head].flatten(1)
                picked = flat.gather(1, flat_index(tuples[row], n).unsqueeze(1)).squeeze(1)
                set_nll = -picked - self.log_orderings[row]
                cache[head, row] = torch.where(usable[row], set_nll, torch.zeros_like(picked))
            return cache[head, row]

        per_perm = torch.stack(
            [sum(nll(h, row) for h, row in enumerate(perm)) for perm in self.perms], dim=-1
        )
        best = per_perm.detach().argmin(-1)
        assign = per_perm.gather(1, best.unsqueeze(1)).squeeze(1)
        detect_target = reconstructable.gather(1, self.perm_table[best]).to(out["detection"].dtype)
        bce = F.binary_cross_entropy_with_logits(
            out["detection"], detect_target, reduction="none"
        ).sum(-1)
        per_event = assign + bce
        if self.symmetric_pairs and self.divergence_weight:
            per_event = per_event + self.divergence_weight * self.divergence(out, usable)
        per_event = torch.where(use, per_event, torch.zeros_like(bce))
        if weight is None:
            # Dividing by at least 1 keeps a graph-connected zero when no event qualifies.
            return per_event.sum() / use.sum().clamp(min=1)
        w = weight.to(per_event.dtype) * use
        return (per_event * w).sum() / w.abs().sum().clamp(min=1e-12)

    @torch.no_grad()
    def predict(self, out: dict) -> dict[str, torch.Tensor]:
        """Exclusive decoding, as SPANet and EveNet decode: per event the resonances take
        their most probable daughter set in order of that probability, each object used at
        most once. `assignment` (B, R_t, D_t) slot indices (D_t: the topology's most daughters
        of one resonance; -1 padding, and -1 where no valid set of unused objects remains),
        `probability` (B, R_t) of the chosen daughter set (all its equivalent orderings), and
        `detection` (B, R_t) probabilities."""
        mask = out["mask"]
        batch, n = mask.shape
        resonances, width = len(self.daughters), max(self.daughters)
        scores = []  # per resonance (B, N^d): log-probability, -inf for invalid tuples
        for logp, d, orderings in zip(
            out["log_probs"], self.daughters, self.log_orderings, strict=True
        ):
            valid = valid_tuples(mask, d).flatten(1)
            flat = logp.flatten(1).float() + orderings
            scores.append(flat.masked_fill(~valid, float("-inf")))
        best = torch.stack([score.max(-1).values for score in scores], dim=1)
        order = best.argsort(dim=1, descending=True, stable=True)  # (B, R) per event
        assignment = torch.full(
            (batch, resonances, width), -1, dtype=torch.long, device=mask.device
        )
        probability = torch.zeros((batch, resonances), device=mask.device)
        used = torch.zeros((batch, n + 1), dtype=torch.bool, device=mask.device)  # n: "none"
        for k in range(resonances):  # every event's k-th resonance, without host syncs
            for r, (score, d) in enumerate(zip(scores, self.daughters, strict=True)):
                turn = order[:, k] == r
                value, flat = score.masked_fill(_touching(used[:, :n], d), float("-inf")).max(-1)
                tuples = unflatten_index(flat, n, d)
                ok = torch.isfinite(value) & turn
                tuples = torch.where(ok.unsqueeze(-1), tuples, torch.full_like(tuples, -1))
                assignment[:, r, :d] = torch.where(turn.unsqueeze(-1), tuples, assignment[:, r, :d])
                probability[:, r] = torch.where(ok, value.exp(), probability[:, r])
                used.scatter_(1, torch.where(tuples >= 0, tuples, n), True)
        return {
            "assignment": assignment,
            "probability": probability,
            "detection": out["detection"].sigmoid(),
        }


class AssignmentHeads(nn.ModuleDict, Head):
    """The task `assignment`: one `AssignmentHead` per topology with resonances, keyed by the
    topology's name (state-dict keys ``heads.assignment.<topology>.*``).

    Training: each topology's head sees only its own events (8 heads on every event would cost
    8x); the loss is the mean over events with a topology (weighted by the training weight when
    given). Prediction: for each hypothesis topology T (``PredictSettings.hypotheses``) every
    event gets ``assignment.<T>``, ``assignment_probability.<T>`` and ``detection.<T>`` from
    the exclusive decode; no truth enters prediction."""

    def __init__(self, hidden: int, topologies: list[dict], **options):
        super().__init__(
            {t["name"]: AssignmentHead(hidden, t, **options) for t in topologies if t["resonances"]}
        )

    def training_loss(self, enc: Encoded, ctx: LossContext) -> torch.Tensor:
        batch, weight = ctx.batch, ctx.weight
        total = enc.event.sum() * 0.0  # graph-connected zero when no event has a topology
        order, groups = group_by_topology(batch["topology"], [h.topology_id for h in self.values()])
        if not groups:
            return total
        enc = enc.select(order)
        topology, assignment = batch["topology"][order].long(), batch["assignment"][order]
        weight = None if weight is None else weight[order]
        norm = 0.0
        for head in self.values():
            rows = groups.get(head.topology_id)
            if rows is None:
                continue
            sub = {"topology": topology[rows], "assignment": assignment[rows]}
            sub_weight = None if weight is None else weight[rows]
            # Each head's mean, times its share of the normalisation (events or summed |w|).
            share = rows.stop - rows.start if weight is None else sub_weight.abs().sum()
            total = total + head.loss(head(enc.select(rows)), sub, sub_weight) * share
            norm = norm + share
        return total / (norm if weight is None else norm.clamp(min=1e-12))

    def prediction_fields(self, settings: PredictSettings) -> list[pa.Field]:
        fields = []
        for name in settings.hypotheses:
            head = self[name]
            rows, width = len(head.daughters), max(head.daughters)
            fields += [
                pa.field(f"assignment.{name}", tensor_type(pa.int16(), rows, width)),
                pa.field(f"assignment_probability.{name}", tensor_type(pa.float32(), rows)),
                pa.field(f"detection.{name}", tensor_type(pa.float32(), rows)),
            ]
        return fields

    def predict_outputs(self, enc: Encoded, ctx: PredictContext) -> dict[str, torch.Tensor]:
        values = {}
        for name in ctx.settings.hypotheses:  # every event, under each hypothesis
            head = self[name]
            found = head.predict(head(enc))
            values[f"assignment.{name}"] = found["assignment"]
            values[f"assignment_probability.{name}"] = found["probability"]
            values[f"detection.{name}"] = found["detection"]
        return values
