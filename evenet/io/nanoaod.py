"""One reader for our reconstruction ntuples and real CMS NanoAOD (NanoAOD naming in both).

The difference is a small branch map: our ntuples carry ``Jet_btag`` in {0, 1}, the
hard-process ``GenPart`` list, ``*_genPartIdx`` matches, ``process_id`` and ``weight``; CMS
NanoAOD carries a b-tag discriminant (``readers.nanoaod.btag_branch``, tagged above
``btag_working_point``), ``genWeight`` (MC only) and a pruned full ``GenPart`` record that is
*not* our hard-process list, so no truth is read from CMS files.
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from evenet.io.events import ReaderError, RecoEvents

_OURS_MARKER = "Jet_btag"  # present only in our ntuples
_LEPTONS = {"muons": ("Muon", "pfRelIso04_all"), "electrons": ("Electron", "pfRelIso03_all")}
_GENPART = ("pdgId", "genPartIdxMother", "pt", "eta", "phi", "mass")


def is_our_ntuple(tree) -> bool:
    return _OURS_MARKER in tree.keys()


def open_events(path: Path):
    try:
        file = uproot.open(path)
    except FileNotFoundError:
        raise ReaderError(f"{path}: file does not exist") from None
    except Exception as error:  # uproot raises many types for corrupt files
        raise ReaderError(f"{path}: not a readable ROOT file ({error})") from None
    try:
        if "Events" not in file:
            keys = ", ".join(file.keys()) or "none"
            raise ReaderError(f"{path}: no 'Events' tree (keys: {keys})")
        return file, file["Events"]
    except ReaderError:
        raise
    except Exception as error:  # zlib.error, DeserializationError: damaged tree metadata
        file.close()
        raise ReaderError(f"{path}: {_damaged(error)}") from None


def _damaged(error: Exception) -> str:
    """One line for an error from decompressing or decoding a damaged file."""
    lines = str(error).strip().splitlines()
    detail = f": {lines[0]}" if lines else ""
    return f"the file is corrupt ({type(error).__name__}{detail}); regenerate or re-download it"


def _branches(tree, names: list[str], path: Path, start, stop) -> dict:
    missing = [n for n in names if n not in tree.keys()]
    if missing:
        raise ReaderError(f"{path}: missing branch(es) {', '.join(missing)}")
    try:
        arrays = tree.arrays(names, entry_start=start, entry_stop=stop, how=dict)
    except Exception as error:  # zlib.error, uproot's DeserializationError, ...: a bad basket
        span = f"entries {start or 0}..{tree.num_entries if stop is None else stop}"
        raise ReaderError(f"{path}: cannot read {span}: {_damaged(error)}") from None
    for name, array in arrays.items():
        flat = ak.flatten(array, axis=None) if array.ndim > 1 else array
        values = ak.to_numpy(flat)
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            raise ReaderError(f"{path}: branch {name} holds NaN or inf values")
    return arrays


def read_nanoaod(
    path: str | Path,
    sample: str,
    btag_branch: str = "Jet_btagDeepFlavB",
    btag_working_point: float = 0.3093,
    process: int = -1,
    entry_start: int | None = None,
    entry_stop: int | None = None,
) -> RecoEvents:
    """Read one file (ours or CMS) into RecoEvents. ``process`` is used for CMS files only."""
    path = Path(path)
    file, tree = open_events(path)
    with file:
        return read_tree(
            tree, path, sample, btag_branch, btag_working_point, process, entry_start, entry_stop
        )


def read_tree(
    tree,
    path: Path,
    sample: str,
    btag_branch: str,
    btag_working_point: float,
    process: int = -1,
    entry_start: int | None = None,
    entry_stop: int | None = None,
) -> RecoEvents:
    """Like read_nanoaod, on an already opened ``Events`` tree (``path`` names it in errors)."""
    ours = is_our_ntuple(tree)
    jet_tag = "Jet_btag" if ours else btag_branch
    names = ["run", "event", "MET_pt", "MET_phi", jet_tag]
    names += [f"Jet_{f}" for f in ("pt", "eta", "phi", "mass")]
    for prefix, iso in _LEPTONS.values():
        names += [f"{prefix}_{f}" for f in ("pt", "eta", "phi", "mass", "charge", iso, "ip3d")]
    if ours:
        names += [
            "process_id",
            "weight",
            "Jet_genPartIdx",
            "Muon_genPartIdx",
            "Electron_genPartIdx",
        ] + [f"GenPart_{f}" for f in _GENPART]
    elif "genWeight" in tree.keys():
        names.append("genWeight")
    a = _branches(tree, names, path, entry_start, entry_stop)

    n = len(a["run"])
    threshold = 0.5 if ours else btag_working_point
    jet_fields = {f: a[f"Jet_{f}"] for f in ("pt", "eta", "phi", "mass")}
    jet_fields["btag"] = ak.values_astype(a[jet_tag] > threshold, np.float32)
    if ours:
        jet_fields["genPartIdx"] = a["Jet_genPartIdx"]
    collections = {}
    for key, (prefix, iso) in _LEPTONS.items():
        fields = {f: a[f"{prefix}_{f}"] for f in ("pt", "eta", "phi", "mass", "charge", "ip3d")}
        fields["iso"] = a[f"{prefix}_{iso}"]
        if ours:
            fields["genPartIdx"] = a[f"{prefix}_genPartIdx"]
        collections[key] = ak.zip(fields)
    if ours:
        weight = ak.to_numpy(a["weight"]).astype(np.float32)
        process_ids = ak.to_numpy(a["process_id"]).astype(np.int32)
        genpart = ak.zip({f: a[f"GenPart_{f}"] for f in _GENPART})
    else:
        weight = (
            ak.to_numpy(a["genWeight"]).astype(np.float32)
            if "genWeight" in a
            else np.ones(n, np.float32)
        )
        process_ids = np.full(n, process, np.int32)
        genpart = None
    return RecoEvents(
        sample=sample,
        # CMS stores run as uint32 and event as uint64: int64 keeps the bits (DESIGN.md).
        run=ak.to_numpy(a["run"]).astype(np.int64),
        event=ak.to_numpy(a["event"]).view(np.int64)
        if ak.to_numpy(a["event"]).dtype == np.uint64
        else ak.to_numpy(a["event"]).astype(np.int64),
        process=process_ids,
        weight=weight,
        jets=ak.zip(jet_fields),
        muons=collections["muons"],
        electrons=collections["electrons"],
        met_pt=ak.to_numpy(a["MET_pt"]).astype(np.float64),
        met_phi=ak.to_numpy(a["MET_phi"]).astype(np.float64),
        genpart=genpart,
    )


def read_runs_record(file) -> dict | None:
    """The Runs record of an open file of ours (None for CMS files, which have no such tree)."""
    if "Runs" not in file:
        return None
    runs = file["Runs"].arrays(library="np")
    return {k: v[0].item() for k, v in runs.items()}
