"""The point-cloud data contract (DESIGN.md "Point-cloud datasets", schema version 2).

One place defines the column names, dtypes and fixed shapes that the converter writes and
the loader reads. Shapes that depend on config/topologies.yaml (R resonances × D daughters,
P partons) and on the analysis (K extra object features) are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from evenet import SCHEMA_VERSION
from evenet.io.columns import column_shape, tensor_type

N_OBJECTS = 18
OBJECT_FEATURES = ("E", "pT", "eta", "phi", "isBJet", "isLepton", "charge")
GLOBAL_FEATURES = (
    "MET",
    "MET_phi",
    "nLepton",
    "nJet",
    "nBJet",
    "HT",
    "HT_lep",
    "M_all",
    "M_leptons",
    "M_bjets",
)
N_NEUTRINOS = 2
NEUTRINO_FEATURES = ("pT", "eta", "phi")
PARTON_FEATURES = ("pT", "eta", "phi", "m")
# Features transformed with log1p before standardisation; φ-like ones are never standardised.
LOG1P_FEATURES = {
    "x": ("E", "pT"),
    "globals": ("MET", "HT", "HT_lep", "M_all", "M_leptons", "M_bjets"),
    "neutrinos": ("pT",),
    "partons": ("pT", "m"),
}
PERIODIC_FEATURES = {
    "x": ("phi",),
    "globals": ("MET_phi",),
    "neutrinos": ("phi",),
    "partons": ("phi",),
}
SPLITS = {"train": 0, "val": 1, "test": 2}
# Per-event features an analysis can add beside `globals` (conversion.globals_extra), so the
# pretrained inputs stay unchanged: the two leading leptons' invariant mass, pT and Delta R.
GLOBAL_EXTRA_FEATURES = ("M_ll", "pT_ll", "dR_ll")
TARGET_COLUMNS = (
    "topology",
    "assignment",
    "segmentation",
    "neutrinos",
    "neutrinos_mask",
    "partons",
    "partons_mask",
)


@dataclass(frozen=True)
class Shapes:
    """Global padded shapes: R, D, P from config/topologies.yaml, K extra object features."""

    resonances: int  # R
    daughters: int  # D
    partons: int  # P
    extra_features: int = 0  # K (0: no x_extra column)
    global_extra_features: int = 0  # number of globals_extra columns (0: none)


def arrow_schema(shapes: Shapes, with_targets: bool) -> pa.Schema:
    fields = [
        pa.field("sample", pa.dictionary(pa.int32(), pa.string())),
        pa.field("run", pa.int64()),
        pa.field("event", pa.int64()),
        pa.field("split", pa.int8()),
        pa.field("x", tensor_type(pa.float32(), N_OBJECTS, len(OBJECT_FEATURES))),
        pa.field("x_mask", tensor_type(pa.bool_(), N_OBJECTS)),
    ]
    if shapes.extra_features:
        fields.append(
            pa.field("x_extra", tensor_type(pa.float32(), N_OBJECTS, shapes.extra_features))
        )
    fields += [pa.field("globals", tensor_type(pa.float32(), len(GLOBAL_FEATURES)))]
    if shapes.global_extra_features:
        fields.append(
            pa.field("globals_extra", tensor_type(pa.float32(), shapes.global_extra_features))
        )
    fields += [
        pa.field("process", pa.int32()),
        pa.field("weight", pa.float32()),
    ]
    if with_targets:
        fields += [
            pa.field("topology", pa.int16()),
            pa.field("assignment", tensor_type(pa.int16(), shapes.resonances, shapes.daughters)),
            pa.field("segmentation", tensor_type(pa.int8(), N_OBJECTS)),
            pa.field("neutrinos", tensor_type(pa.float32(), N_NEUTRINOS, len(NEUTRINO_FEATURES))),
            pa.field("neutrinos_mask", tensor_type(pa.bool_(), N_NEUTRINOS)),
            pa.field("partons", tensor_type(pa.float32(), shapes.partons, len(PARTON_FEATURES))),
            pa.field("partons_mask", tensor_type(pa.bool_(), shapes.partons)),
        ]
    return pa.schema(fields, metadata={"evenet_schema_version": str(SCHEMA_VERSION)})


UNITS = {
    "E": "GeV",
    "pT": "GeV",
    "eta": "",
    "phi": "rad",
    "m": "GeV",
    "MET": "GeV",
    "MET_phi": "rad",
    "HT": "GeV",
    "HT_lep": "GeV",
    "M_all": "GeV",
    "M_leptons": "GeV",
    "M_bjets": "GeV",
}


def columns_description(shapes: Shapes, has_targets: bool) -> list[dict]:
    """The manifest's description of each shard column: dtype, shape, feature names and units."""

    def features(group, names):
        return {
            "features": list(names),
            "units": [UNITS.get(n, "") for n in names],
            "log1p": [n for n in names if n in LOG1P_FEATURES.get(group, ())],
            "periodic": [n for n in names if n in PERIODIC_FEATURES.get(group, ())],
        }

    columns = [
        {"name": f.name, "dtype": str(f.type), "shape": list(column_shape(f.type))}
        for f in arrow_schema(shapes, has_targets)
    ]
    extra = {"x": features("x", OBJECT_FEATURES), "globals": features("globals", GLOBAL_FEATURES)}
    if has_targets:
        extra["neutrinos"] = features("neutrinos", NEUTRINO_FEATURES)
        extra["partons"] = features("partons", PARTON_FEATURES)
    for column in columns:
        column.update(extra.get(column["name"], {}))
    return columns
