"""Input normalisation from a dataset's stats.json (embedded in every checkpoint).

Transforms (DESIGN.md): log1p on energies, momenta and masses, then standardisation with the
train-split mean/std; φ is never standardised but enters as (cos φ, sin φ), so φ and φ + 2π
are the same input and ±π are neighbours. Binary flags and the charge are standardised too
(their stats exist; it keeps every input O(1)).

Layouts after the transform (`*_FEATURES` name each column):
  objects   (…, 18, 8): E, pT, eta, cos_phi, sin_phi, isBJet, isLepton, charge
  globals   (…, 11):    MET, cos/sin MET_phi, nLepton, nJet, nBJet, HT, HT_lep, M_all,
                        M_leptons, M_bjets
  neutrinos (…, 2, 4):  pT, eta, cos_phi, sin_phi
"""

from __future__ import annotations

import math

import torch
from torch import nn

from evenet.io.schema import (
    GLOBAL_FEATURES,
    LOG1P_FEATURES,
    NEUTRINO_FEATURES,
    OBJECT_FEATURES,
    PERIODIC_FEATURES,
)
from evenet.model.errors import ModelConfigError


class StatsError(ModelConfigError):
    """stats.json lacks a feature the model needs, or holds a non-finite value."""


def _expanded(names: tuple[str, ...], periodic: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        out += [f"cos_{name}", f"sin_{name}"] if name in periodic else [name]
    return tuple(out)


OBJECT_INPUTS = _expanded(OBJECT_FEATURES, PERIODIC_FEATURES["x"])
GLOBAL_INPUTS = _expanded(GLOBAL_FEATURES, PERIODIC_FEATURES["globals"])
# Object feature columns (raw x) the body's kNN graph and pair bias read: pT, eta, phi, E.
KINEMATIC_COLUMNS = [OBJECT_FEATURES.index(name) for name in ("pT", "eta", "phi", "E")]
NEUTRINO_INPUTS = _expanded(NEUTRINO_FEATURES, PERIODIC_FEATURES["neutrinos"])


class _Group(nn.Module):
    """One column group (x, globals or neutrinos): log1p + standardise, φ -> (cos, sin)."""

    def __init__(self, group: str, names: tuple[str, ...], stats: dict):
        super().__init__()
        entry = stats.get(group)
        if entry is None:
            raise StatsError(f"stats.json has no '{group}' entry")
        moments = zip(entry["mean"], entry["std"], strict=True)
        stored = dict(zip(entry["features"], moments, strict=True))
        periodic = PERIODIC_FEATURES.get(group, ())
        log1p = LOG1P_FEATURES.get(group, ())
        mean, std, is_log, is_periodic = [], [], [], []
        for name in names:
            is_periodic.append(name in periodic)
            is_log.append(name in log1p)
            if name in periodic:
                mean.append(0.0)
                std.append(1.0)
                continue
            if name not in stored or stored[name][0] is None:
                raise StatsError(f"stats.json has no mean/std for {group} feature '{name}'")
            m, s = (float(v) for v in stored[name])
            if not (math.isfinite(m) and math.isfinite(s)):
                raise StatsError(f"stats.json: non-finite mean/std for {group} feature '{name}'")
            mean.append(m)
            std.append(s if s > 1e-6 else 1.0)  # a constant feature passes through centred
        self.names = names
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self.register_buffer("is_log", torch.tensor(is_log))
        self.register_buffer("is_periodic", torch.tensor(is_periodic))
        self.periodic_index = [i for i, p in enumerate(is_periodic) if p]

    def _runs(self):
        """(first, stop) feature ranges between periodic features, in order, and those."""
        start = 0
        for i in self.periodic_index:
            yield "plain", start, i
            yield "periodic", i, i + 1
            start = i + 1
        yield "plain", start, len(self.names)

    # Python-side flags only: indexing the flag buffers would make the GPU wait each call.
    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        raw = raw.float()
        values = torch.where(self.is_log, torch.log1p(raw.clamp(min=0.0)), raw)
        values = (values - self.mean) / self.std
        if not self.periodic_index:
            return values
        parts = []
        for kind, first, stop in self._runs():
            if kind == "periodic":
                parts += [
                    torch.cos(raw[..., first : first + 1]),
                    torch.sin(raw[..., first : first + 1]),
                ]
            elif stop > first:
                parts.append(values[..., first:stop])
        return torch.cat(parts, dim=-1)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised (…, F') back to raw (…, F); φ = atan2(sin, cos)."""
        parts, k = [], 0
        for kind, first, stop in self._runs():
            if kind == "periodic":
                parts.append(torch.atan2(z[..., k + 1 : k + 2], z[..., k : k + 1]))
                k += 2
            elif stop > first:
                width = stop - first
                value = z[..., k : k + width] * self.std[first:stop] + self.mean[first:stop]
                # clamped below float32's overflow, so the unused branch stays finite
                log = torch.expm1(value.clamp(max=88.0)).clamp(min=0.0)
                parts.append(torch.where(self.is_log[first:stop], log, value))
                k += width
        return torch.cat(parts, dim=-1)


class Normalizer(nn.Module):
    """Raw batch columns -> model inputs (and back), from stats.json contents."""

    object_dim = len(OBJECT_INPUTS)
    global_dim = len(GLOBAL_INPUTS)
    neutrino_dim = len(NEUTRINO_INPUTS)

    def __init__(
        self, stats: dict, extra: tuple[str, ...] = (), globals_extra: tuple[str, ...] = ()
    ):
        super().__init__()
        self._objects = _Group("x", OBJECT_FEATURES, stats)
        # per-object extra inputs (x_extra: iso, ip3d, ...), standardised like x
        self._extra = _Group("x_extra", tuple(extra), stats) if extra else None
        # per-event extra inputs (globals_extra: M_ll, pT_ll, dR_ll), standardised
        self._globals_extra = (
            _Group("globals_extra", tuple(globals_extra), stats) if globals_extra else None
        )
        self._globals = _Group("globals", GLOBAL_FEATURES, stats)
        # A dataset without truth has no neutrino stats: fall back to pT, η of O(100 GeV, 1).
        nu_stats = stats if "neutrinos" in stats else {"neutrinos": _DEFAULT_NEUTRINOS}
        self._neutrinos = _Group("neutrinos", NEUTRINO_FEATURES, nu_stats)

    def objects(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(…, 18, 7) raw -> (…, 18, 8); padded slots (mask False) become exactly zero."""
        z = self._objects(x)
        return z if mask is None else z * mask.unsqueeze(-1)

    def extra(self, x_extra: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(…, 18, K) raw x_extra -> standardised (…, 18, K); padded slots exactly zero."""
        if self._extra is None:
            raise StatsError("the model was built without x_extra inputs")
        return self._extra(x_extra) * mask.unsqueeze(-1)

    def extra_inverse(self, z: torch.Tensor) -> torch.Tensor:
        """Standardised (…, K) x_extra back to raw."""
        if self._extra is None:
            raise StatsError("the model was built without x_extra inputs")
        return self._extra.inverse(z)

    def globals_extra(self, g: torch.Tensor) -> torch.Tensor:
        if self._globals_extra is None:
            raise StatsError("the model was built without globals_extra inputs")
        return self._globals_extra(g)

    def globals_extra_inverse(self, z: torch.Tensor) -> torch.Tensor:
        return self._globals_extra.inverse(z)

    def objects_inverse(self, z: torch.Tensor) -> torch.Tensor:
        return self._objects.inverse(z)

    def globals(self, g: torch.Tensor) -> torch.Tensor:
        return self._globals(g)

    def globals_inverse(self, z: torch.Tensor) -> torch.Tensor:
        return self._globals.inverse(z)

    def neutrinos(self, nu: torch.Tensor) -> torch.Tensor:
        return self._neutrinos(nu)

    def neutrinos_inverse(self, z: torch.Tensor) -> torch.Tensor:
        return self._neutrinos.inverse(z)


_DEFAULT_NEUTRINOS = {
    "features": list(NEUTRINO_FEATURES),
    "mean": [4.0, 0.0, None],
    "std": [1.0, 1.5, None],
}


def neutral_stats() -> dict:
    """Mean 0 / std 1 for every feature: for parameter counts and tests without a dataset."""
    from evenet.io.schema import GLOBAL_FEATURES, NEUTRINO_FEATURES, OBJECT_FEATURES

    def group(names):
        return {"features": list(names), "mean": [0.0] * len(names), "std": [1.0] * len(names)}

    return {
        "x": group(OBJECT_FEATURES),
        "globals": group(GLOBAL_FEATURES),
        "neutrinos": group(NEUTRINO_FEATURES),
    }
