"""Generated object slots -> point-cloud columns, as the converter would write them.

The denoiser returns continuous values for every feature. Discrete features are set to their
allowed values, objects are made physical and put in the converter's order, and the per-event
features are recomputed from the objects with the converter's own function, so a generated
event is read exactly like a converted one.
"""

from __future__ import annotations

import numpy as np

from evenet.io.pointcloud import globals_from_point_cloud
from evenet.io.schema import N_OBJECTS, OBJECT_FEATURES

_COLUMN = {name: k for k, name in enumerate(OBJECT_FEATURES)}
MUON_MASS_GEV = 0.1056583755  # PDG
# x_extra features that are non-negative by definition (relative isolation, |3D impact
# parameter|): a generated value below 0 is set to 0.
NON_NEGATIVE_EXTRA = ("iso", "ip3d")


def round_discrete(objects: np.ndarray) -> np.ndarray:
    """Raw generated objects (..., 7) with isLepton in {0, 1}; a lepton's charge in {-1, +1}
    (its sign; 0 counts as +1) and isBJet 0; a jet's charge 0 and isBJet in {0, 1}."""
    out = objects.copy()
    lepton = out[..., _COLUMN["isLepton"]] >= 0.5
    bjet = ~lepton & (out[..., _COLUMN["isBJet"]] >= 0.5)
    charge = np.where(out[..., _COLUMN["charge"]] < 0, -1.0, 1.0)
    out[..., _COLUMN["isLepton"]] = lepton
    out[..., _COLUMN["isBJet"]] = bjet
    out[..., _COLUMN["charge"]] = np.where(lepton, charge, 0.0)
    return out


def physical(objects: np.ndarray) -> np.ndarray:
    """pT >= 0; a lepton's E from its momentum and the muon mass; a jet's E >= |p| (a generated
    mass squared below 0 becomes 0). ``objects`` has its discrete features rounded.

    A lepton's mass is fixed, so a generated E would only add an error: 1% on E at 20 GeV is a
    2.8 GeV muon mass, which inflates every dilepton mass. x carries no lepton flavour; for an
    electron the muon mass puts E off by < m_mu^2 / 2p (0.6 MeV at 10 GeV)."""
    out = objects.copy()
    pt = np.maximum(out[..., _COLUMN["pT"]], 0.0)
    momentum = pt * np.cosh(out[..., _COLUMN["eta"]])
    lepton = out[..., _COLUMN["isLepton"]] > 0.5
    out[..., _COLUMN["pT"]] = pt
    out[..., _COLUMN["E"]] = np.where(
        lepton,
        np.hypot(momentum, MUON_MASS_GEV),
        np.maximum(out[..., _COLUMN["E"]], momentum),
    )
    return out


def converter_order(objects: np.ndarray, extra: np.ndarray | None):
    """Each event's objects (n, S, ...) in the converter's order: leptons by pT, then jets."""
    lepton = objects[..., _COLUMN["isLepton"]] > 0.5
    key = np.where(lepton, 0.0, 1.0) * 1e12 - objects[..., _COLUMN["pT"]]  # pT < 1e12 GeV
    order = np.argsort(key, axis=1, kind="stable")
    objects = np.take_along_axis(objects, order[..., None], axis=1)
    if extra is not None:
        extra = np.take_along_axis(extra, order[..., None], axis=1)
    return objects, extra


def point_cloud_columns(
    objects: np.ndarray,
    extra: np.ndarray | None,
    extra_names: tuple[str, ...],
    globals_extra_names: tuple[str, ...],
    met: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """x, x_mask, x_extra, globals and globals_extra of events whose S generated objects are
    ``objects`` (n, S, 7) raw and ``extra`` (n, S, K) raw; they fill slots 0 .. S-1, the rest
    is padding. MET and MET_phi are not functions of the objects: ``met`` (default 0)."""
    n, slots = objects.shape[:2]
    objects = physical(round_discrete(objects))
    if extra is not None:
        extra = extra.copy()
        for k, name in enumerate(extra_names):
            if name in NON_NEGATIVE_EXTRA:
                extra[..., k] = np.maximum(extra[..., k], 0.0)
    objects, extra = converter_order(objects, extra)
    x = np.zeros((n, N_OBJECTS, len(OBJECT_FEATURES)), np.float32)
    x[:, :slots] = objects
    x_mask = np.zeros((n, N_OBJECTS), bool)
    x_mask[:, :slots] = True
    columns = {"x": x, "x_mask": x_mask}
    if extra_names:
        x_extra = np.zeros((n, N_OBJECTS, len(extra_names)), np.float32)
        x_extra[:, :slots] = extra
        columns["x_extra"] = x_extra
    global_values, extra_values = globals_from_point_cloud(x, x_mask, met, globals_extra_names)
    columns["globals"] = global_values
    if globals_extra_names:
        columns["globals_extra"] = extra_values
    return columns
