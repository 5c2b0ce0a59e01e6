"""Synthetic raw batches with the loader's columns and dtypes (tests and `bench model`).

Kinematics are plausible (log-normal pT, |eta| < 2.5, uniform phi), targets are consistent
with the topology definitions (distinct real objects per event), nothing more.
"""

from __future__ import annotations

import numpy as np
import torch

from evenet.io.schema import N_NEUTRINOS, N_OBJECTS


def synthetic_batch(
    n: int,
    topologies: list[dict],
    num_classes: int,
    *,
    seed: int = 0,
    caps: tuple[int, int, int] | None = None,
) -> dict[str, torch.Tensor]:
    """A random batch with targets for ``topologies``; ``caps`` (R, D, P) default to those of
    config/topologies.yaml."""
    if caps is None:
        from evenet.data.synthetic import topology_shapes

        shapes = topology_shapes()
        caps = (shapes.resonances, shapes.daughters, shapes.partons)
    rng = np.random.default_rng(seed)
    r_cap, d_cap, p_cap = caps
    counts = rng.integers(4, N_OBJECTS + 1, n)
    mask = np.arange(N_OBJECTS)[None, :] < counts[:, None]
    pt = np.exp(rng.normal(3.8, 0.6, (n, N_OBJECTS)))
    eta = rng.uniform(-2.5, 2.5, (n, N_OBJECTS))
    phi = rng.uniform(-np.pi, np.pi, (n, N_OBJECTS))
    mass = rng.uniform(0, 10, (n, N_OBJECTS))
    energy = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)
    btag = rng.random((n, N_OBJECTS)) < 0.2
    lepton = np.arange(N_OBJECTS)[None, :] < rng.integers(0, 3, n)[:, None]
    charge = np.where(lepton, rng.choice([-1.0, 1.0], (n, N_OBJECTS)), 0.0)
    x = np.stack([energy, pt, eta, phi, btag & ~lepton, lepton, charge], axis=-1) * mask[..., None]
    globals_ = np.stack(
        [
            np.exp(rng.normal(3.5, 0.7, n)),
            rng.uniform(-np.pi, np.pi, n),
            lepton.sum(1),
            (mask & ~lepton).sum(1),
            (btag & ~lepton & mask).sum(1),
            (pt * mask * ~lepton).sum(1),
            (pt * mask * lepton).sum(1),
            np.exp(rng.normal(6.0, 0.5, n)),
            np.exp(rng.normal(4.0, 0.5, n)),
            np.exp(rng.normal(4.5, 0.5, n)),
        ],
        axis=1,
    )
    with_resonances = [t for t in topologies if t["resonances"]]
    topology = np.full(n, -1, np.int16)
    assignment = np.full((n, r_cap, d_cap), -1, np.int16)
    segmentation = np.full((n, N_OBJECTS), -1, np.int8)
    for i in range(n):
        if not with_resonances or rng.random() < 0.1:
            continue
        t = with_resonances[rng.integers(len(with_resonances))]
        topology[i] = t["id"]
        daughters = [len(d) for d in t["resonances"].values()]
        objects = rng.permutation(counts[i])[: sum(daughters)]
        start = 0
        for row, size in enumerate(daughters):
            chosen = objects[start : start + size]
            start += size
            if len(chosen) < size or rng.random() < 0.15:  # an unmatched daughter
                chosen = chosen[: max(len(chosen) - 1, 0)]
            assignment[i, row, : len(chosen)] = chosen
            segmentation[i, chosen] = row
    neutrinos = np.stack(
        [
            np.exp(rng.normal(3.7, 0.6, (n, N_NEUTRINOS))),
            rng.normal(0, 1.5, (n, N_NEUTRINOS)),
            rng.uniform(-np.pi, np.pi, (n, N_NEUTRINOS)),
        ],
        axis=-1,
    )
    columns = {
        "x": torch.from_numpy(x.astype(np.float32)),
        "x_mask": torch.from_numpy(mask),
        "globals": torch.from_numpy(globals_.astype(np.float32)),
        "label": torch.from_numpy(rng.integers(0, num_classes, n)),
        "weight": torch.ones(n),
        "topology": torch.from_numpy(topology),
        "assignment": torch.from_numpy(assignment),
        "segmentation": torch.from_numpy(segmentation),
        "neutrinos": torch.from_numpy(neutrinos.astype(np.float32)),
        "neutrinos_mask": torch.from_numpy(rng.random((n, N_NEUTRINOS)) < 0.7),
        "partons": torch.zeros(n, p_cap, 4),
        "partons_mask": torch.zeros(n, p_cap, dtype=torch.bool),
    }
    return columns
