"""Truth targets from the hard-process GenPart list: topology, assignment, segmentation,
neutrinos and partons (DESIGN.md), vectorised over flat GenPart arrays."""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from evenet.io.pointcloud import PointClouds
from evenet.io.schema import N_NEUTRINOS, N_OBJECTS
from evenet.io.topologies import Topologies, Topology

_MISSING = -2  # "not found" (never equal to a mother index, which is >= -1)


@dataclass
class _Gen:
    """Flat GenPart arrays of a chunk."""

    offsets: np.ndarray
    event: np.ndarray
    local: np.ndarray
    pdg: np.ndarray
    mother: np.ndarray
    kin: dict  # pt, eta, phi, mass

    @classmethod
    def from_awkward(cls, genpart: ak.Array) -> _Gen:
        counts = ak.to_numpy(ak.num(genpart.pdgId)).astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        event = np.repeat(np.arange(len(counts)), counts)

        def flat(field, dtype):
            return ak.to_numpy(ak.flatten(genpart[field])).astype(dtype)

        return cls(
            offsets,
            event,
            np.arange(len(event)) - offsets[event],
            flat("pdgId", np.int64),
            flat("genPartIdxMother", np.int64),
            {f: flat(f, np.float32) for f in ("pt", "eta", "phi", "mass")},
        )

    def pick(self, mask: np.ndarray, occurrence: int) -> np.ndarray:
        """Per event, the local index of the ``occurrence``-th masked entry, else _MISSING."""
        counts = np.cumsum(mask)
        start = np.concatenate([[0], counts])[self.offsets[:-1]]
        rank = counts - mask - start[self.event]
        chosen = mask & (rank == occurrence)
        out = np.full(len(self.offsets) - 1, _MISSING, dtype=np.int64)
        out[self.event[chosen]] = self.local[chosen]
        return out

    def flat_index(self, local: np.ndarray) -> np.ndarray:
        """Flat index of per-event local indices (events with _MISSING get a valid dummy
        index: callers mask them)."""
        return np.minimum(self.offsets[:-1] + np.maximum(local, 0), len(self.pdg) - 1)


def _select(gen: _Gen, topology: Topology) -> dict[str, np.ndarray]:
    """Local GenPart index of every named particle per event (_MISSING when absent)."""
    found: dict[str, np.ndarray] = {}

    def resolve(name):
        if name in found:
            return found[name]
        sel = topology.particles[name]
        if "ancestor_of" in sel:
            idx = resolve(sel["ancestor_of"])
            for _ in range(int(sel["up"])):
                mother = gen.mother[gen.flat_index(idx)]
                idx = np.where((idx >= 0) & (mother >= 0), mother, _MISSING)
        elif "child_of" in sel:
            parent = resolve(sel["child_of"])
            mask = (gen.mother == parent[gen.event]) & np.isin(gen.pdg, sel["ids"])
            idx = gen.pick(mask, int(sel.get("occurrence", 0)))
        else:
            mask = np.isin(gen.pdg, sel["ids"])
            cursor = gen.mother.copy()
            for level in sel.get("mothers", []):
                has = cursor >= 0
                flat = gen.offsets[gen.event] + np.maximum(cursor, 0)
                mask &= has & np.isin(gen.pdg[flat], level)
                cursor = np.where(has, gen.mother[flat], -1)
            idx = gen.pick(mask, int(sel.get("occurrence", 0)))
        found[name] = idx
        return idx

    for name in topology.particles:
        resolve(name)
    return found


def build_targets(
    genpart: ak.Array, pc: PointClouds, topologies: Topologies, candidates: list[Topology]
) -> dict[str, np.ndarray]:
    """Target columns of one chunk; events matching none of ``candidates`` get topology -1."""
    n = len(pc.x)
    r, d, p = topologies.resonances, topologies.daughters, topologies.partons
    out = {
        "topology": np.full(n, -1, np.int16),
        "assignment": np.full((n, r, d), -1, np.int16),
        "segmentation": np.full((n, N_OBJECTS), -1, np.int8),
        "neutrinos": np.zeros((n, N_NEUTRINOS, 3), np.float32),
        "neutrinos_mask": np.zeros((n, N_NEUTRINOS), bool),
        "partons": np.zeros((n, p, 4), np.float32),
        "partons_mask": np.zeros((n, p), bool),
    }
    if n == 0 or not candidates:
        return out
    gen = _Gen.from_awkward(genpart)
    if len(gen.pdg) == 0:
        return out
    free = np.ones(n, bool)  # events not yet given a topology
    for topology in candidates:
        found = _select(gen, topology)
        ok = free & np.all(np.stack([v >= 0 for v in found.values()]), axis=0)
        if not ok.any():
            continue
        free &= ~ok
        out["topology"][ok] = topology.id
        for row, daughters in enumerate(topology.resonances.values()):
            for col, daughter in enumerate(daughters):
                g = found[daughter]
                hit = (pc.gen_index == g[:, None]) & (g[:, None] >= 0)
                slot = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
                out["assignment"][ok, row, col] = slot[ok]
                has = ok & (slot >= 0)
                out["segmentation"][has, slot[has]] = row
        for name in topology.neutrinos:
            g = gen.flat_index(found[name])
            slot = np.where(gen.pdg[g] > 0, 0, 1)
            rows = np.flatnonzero(ok)
            values = np.stack([gen.kin[f][g] for f in ("pt", "eta", "phi")], axis=1)
            out["neutrinos"][rows, slot[rows]] = values[rows]
            out["neutrinos_mask"][rows, slot[rows]] = True
        for k, name in enumerate(topology.partons):
            g = gen.flat_index(found[name])
            values = np.stack([gen.kin[f][g] for f in ("pt", "eta", "phi", "mass")], axis=1)
            out["partons"][ok, k] = values[ok]
            out["partons_mask"][ok, k] = True
    return out
