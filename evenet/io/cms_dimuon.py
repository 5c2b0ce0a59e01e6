"""The dimuon skim of CMS NanoAOD for the bump hunt (arXiv:2502.14036's selection), with coffea.

Per file: certified luminosity sections (golden JSON, `coffea.lumi_tools.LumiMask`), the
trigger (HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx for 2016H), at least two `Muon_tightId`
muons, the two leading tight muons with pT > 17 / 8 GeV, both anti-isolated
(`pfRelIso04_all` >= 0.55). Opposite-sign pairs are the analysis sample, same-sign pairs the
control. Each goes to a flat Parquet table (one row per event, per-muon columns) that
`evenet convert --format table --table-format config/table_formats/dimuon_skim.yaml
--variant anomaly` turns into point clouds; `cutflow.json` counts every step.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from evenet.errors import EvenetError

MUON_MASS_GEV = 0.1056583755
TRIGGER_2016H = "HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx"
MUON_FIELDS = ("pt", "eta", "phi", "charge", "pfRelIso04_all", "ip3d")


class SkimError(EvenetError, ValueError):
    """A NanoAOD file the skim cannot use (a missing branch or trigger, a bad golden JSON)."""


def _events(path: Path):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    if not path.is_file():
        raise SkimError(f"NanoAOD file {path} does not exist")
    with warnings.catch_warnings():  # coffea warns about NanoAOD versions it does not know
        warnings.simplefilter("ignore")
        try:
            return NanoEventsFactory.from_root(
                {str(path): "Events"}, schemaclass=NanoAODSchema, mode="eager"
            ).events()
        except Exception as error:  # uproot / coffea raise many types for a bad file
            reason = " ".join(str(error).split())  # their messages span several lines
            raise SkimError(f"{path}: cannot read it as NanoAOD ({reason})") from None


def _trigger(events, path: Path, trigger: str | None) -> np.ndarray:
    if trigger is None:
        return np.ones(len(events), bool)
    name = trigger.removeprefix("HLT_")
    if "HLT" not in events.fields or name not in events.HLT.fields:
        raise SkimError(
            f"{path} has no trigger branch {trigger} (data of another period?): give the "
            "period's trigger with --trigger, or --trigger none to skip the trigger"
        )
    return np.asarray(events.HLT[name], dtype=bool)


def _lumi_mask(events, golden_json: Path | None) -> np.ndarray:
    if golden_json is None:
        return np.ones(len(events), bool)
    from coffea.lumi_tools import LumiMask

    try:
        mask = LumiMask(str(golden_json))
    except (OSError, ValueError, KeyError) as error:
        raise SkimError(f"golden JSON {golden_json}: {error}") from None
    return np.asarray(mask(events.run, events.luminosityBlock), dtype=bool)


def skim(
    path: str | Path,
    output: str | Path,
    *,
    golden_json: str | Path | None,
    trigger: str | None = TRIGGER_2016H,
    lead_pt_gev: float = 17.0,
    sub_pt_gev: float = 8.0,
    min_isolation: float = 0.55,
) -> dict:
    """Skim one NanoAOD file into ``output``/{opposite_sign,same_sign}.parquet and
    ``output``/cutflow.json; returns the cutflow."""
    import awkward as ak
    import pyarrow as pa

    from evenet.io.results import write_json, write_parquet

    path, output = Path(path), Path(output)
    events = _events(path)
    missing = [f for f in (*MUON_FIELDS, "tightId") if f not in events.Muon.fields]
    if missing:
        raise SkimError(f"{path}: the Muon collection lacks {missing}")
    certified = _lumi_mask(events, Path(golden_json) if golden_json else None)
    triggered = certified & _trigger(events, path, trigger)
    muons = events.Muon[events.Muon.tightId]
    muons = muons[ak.argsort(muons.pt, axis=1, ascending=False)]
    two = triggered & (ak.to_numpy(ak.num(muons)) >= 2)
    lead, sub = ak.pad_none(muons, 2)[:, 0], ak.pad_none(muons, 2)[:, 1]

    def column(muon, field):
        return ak.to_numpy(ak.fill_none(muon[field], np.nan)).astype(np.float64)

    pt = two & (column(lead, "pt") > lead_pt_gev) & (column(sub, "pt") > sub_pt_gev)
    iso = column(lead, "pfRelIso04_all"), column(sub, "pfRelIso04_all")
    anti = pt & (iso[0] >= min_isolation) & (iso[1] >= min_isolation)
    opposite = anti & (column(lead, "charge") * column(sub, "charge") < 0)
    same = anti & ~opposite
    mass = _mass(*(column(m, f) for m in (lead, sub) for f in ("pt", "eta", "phi")))
    cutflow = {
        "file": str(path),
        "events": len(events),
        "certified": int(certified.sum()),
        "trigger": int(triggered.sum()),
        "two_tight_muons": int(two.sum()),
        "pt_17_8": int(pt.sum()),
        "anti_isolated": int(anti.sum()),
        "opposite_sign": int(opposite.sum()),
        "same_sign": int(same.sum()),
        "opposite_sign_5_16": int((opposite & (mass > 5) & (mass < 16)).sum()),
        "trigger_name": trigger,
        "golden_json": str(golden_json) if golden_json else None,
    }
    for name, chosen in (("opposite_sign", opposite), ("same_sign", same)):
        table = {
            "run": ak.to_numpy(events.run)[chosen].astype(np.int64),
            "luminosityBlock": ak.to_numpy(events.luminosityBlock)[chosen].astype(np.int64),
            "event": ak.to_numpy(events.event)[chosen].astype(np.int64),
            "mass": mass[chosen],
        }
        for prefix, muon in (("mu0", lead), ("mu1", sub)):
            for field in MUON_FIELDS:
                table[f"{prefix}_{field}"] = column(muon, field)[chosen]
        write_parquet(output / f"{name}.parquet", pa.table(table))
    write_json(output / "cutflow.json", cutflow)
    return cutflow


def _mass(pt0, eta0, phi0, pt1, eta1, phi1) -> np.ndarray:
    """The dimuon mass with the PDG muon mass (NaN where a muon is missing)."""
    import vector

    first = vector.array(
        {"pt": pt0, "eta": eta0, "phi": phi0, "mass": np.full_like(pt0, MUON_MASS_GEV)}
    )
    second = vector.array(
        {"pt": pt1, "eta": eta1, "phi": phi1, "mass": np.full_like(pt1, MUON_MASS_GEV)}
    )
    with np.errstate(invalid="ignore"):
        return np.asarray((first + second).mass, dtype=np.float64)
