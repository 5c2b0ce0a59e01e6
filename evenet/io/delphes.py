"""Delphes ROOT trees -> ``RecoEvents``.

Layout read (Delphes 3 ``ExRootTreeWriter``, tree ``Delphes``): every collection is a split
TClonesArray, so uproot sees a branch ``Jet`` with sub-branches ``Jet/Jet.PT``, ... and a
counter ``Jet_size``. A flat tree whose branches are named ``Jet.PT`` directly (what uproot
itself writes for ``mktree(..., field_name=lambda o, i: f"{o}.{i}")``) reads the same way:
branches are looked up by their own name, whatever their parent.

Fields and the choices made where Delphes differs from the contract:
- jets: ``Jet.PT, .Eta, .Phi, .Mass``; ``btag = (Jet.BTag >> btag_bit) & 1`` (BTag is a bit
  mask, one bit per b-tagging module of the card; bit 0 is the first/default module).
- muons, electrons: ``.PT, .Eta, .Phi, .Charge``; ``iso = .IsolationVar``, which the default
  cards' ``Isolation`` module fills as *relative* isolation (sum pT in the cone / pT, cone
  ΔR_max set by the card, 0.5 in ``delphes_card_CMS.tcl``, not the contract's 0.4 / 0.3).
  The default cards keep only leptons passing their isolation cut, so anti-isolated leptons
  are absent. ``mass`` = PDG mass (Delphes stores none). ``ip3d = hypot(D0, DZ) / 10`` (mm ->
  cm) when ``.D0`` and ``.DZ`` exist (Delphes >= 3.4.2 with track smearing; DZ is measured
  from the beam spot, not a primary vertex), else 0.
- ``met_pt, met_phi``: first entry of ``MissingET.MET, .Phi``.
- ``event``: first entry of ``Event.Number`` if present, else the tree entry index (global,
  so chunks of one file never repeat a number). ``weight``: first entry of ``Event.Weight``
  if present, else 1. ``run``: the ``run`` argument (Delphes has none; default 0).
- ``genpart`` is None: Delphes' ``Particle`` record is not our hard-process list.
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from evenet.io.events import ReaderError, RecoEvents

TREE = "Delphes"
MUON_MASS = 0.1056583755  # GeV, PDG 2024
ELECTRON_MASS = 0.51099895e-3  # GeV, PDG 2024
MM_TO_CM = 0.1

JET_BRANCHES = ("PT", "Eta", "Phi", "Mass", "BTag")
LEPTON_BRANCHES = ("PT", "Eta", "Phi", "Charge", "IsolationVar")


class _Tree:
    """A Delphes tree with branches found by their own name and checked on read."""

    def __init__(self, tree: uproot.TTree, path: Path, entry_start, entry_stop):
        self.tree, self.path = tree, path
        # Resolve None / negative bounds like Python slices, so "event" can fall back to the
        # global entry index of each event.
        self.start, self.stop, _ = slice(entry_start, entry_stop).indices(tree.num_entries)
        self.stop = max(self.start, self.stop)
        # Real Delphes nests "Jet.PT" under "Jet" ("Jet/Jet.PT"); a flat tree has "Jet.PT".
        self.names = {key.rsplit("/", 1)[-1]: key for key in tree.keys(recursive=True)}

    def has(self, name: str) -> bool:
        return name in self.names

    def read(self, name: str) -> ak.Array:
        if name not in self.names:
            raise ReaderError(f"{self.path}: tree {TREE!r} has no branch {name!r}")
        array = self.tree[self.names[name]].array(
            entry_start=self.start, entry_stop=self.stop, library="ak"
        )
        flat = ak.flatten(array, axis=None) if array.ndim > 1 else array
        if not np.all(np.isfinite(ak.to_numpy(flat))):
            raise ReaderError(f"{self.path}: branch {name!r} holds NaN or inf values")
        return array

    def first(self, name: str) -> np.ndarray:
        """The first entry per event of a one-entry-per-event collection (MissingET, Event)."""
        array = self.read(name)
        if array.ndim == 1:
            return ak.to_numpy(array)
        if ak.any(ak.num(array) == 0):
            raise ReaderError(f"{self.path}: branch {name!r} is empty in some events")
        return ak.to_numpy(array[:, 0])


def _leptons(tree: _Tree, prefix: str, mass: float) -> ak.Array:
    pt, eta, phi, charge, iso = (tree.read(f"{prefix}.{b}") for b in LEPTON_BRANCHES)
    if tree.has(f"{prefix}.D0") and tree.has(f"{prefix}.DZ"):
        ip3d = np.hypot(tree.read(f"{prefix}.D0"), tree.read(f"{prefix}.DZ")) * MM_TO_CM
    else:
        ip3d = ak.zeros_like(pt)
    f32 = np.float32
    return ak.zip(
        {
            "pt": ak.values_astype(pt, f32),
            "eta": ak.values_astype(eta, f32),
            "phi": ak.values_astype(phi, f32),
            "mass": ak.full_like(pt, mass, dtype=f32),
            "charge": ak.values_astype(charge, np.int32),
            "iso": ak.values_astype(iso, f32),
            "ip3d": ak.values_astype(ip3d, f32),
        }
    )


def _jets(tree: _Tree, btag_bit: int) -> ak.Array:
    pt, eta, phi, mass, btag = (tree.read(f"Jet.{b}") for b in JET_BRANCHES)
    f32 = np.float32
    return ak.zip(
        {
            "pt": ak.values_astype(pt, f32),
            "eta": ak.values_astype(eta, f32),
            "phi": ak.values_astype(phi, f32),
            "mass": ak.values_astype(mass, f32),
            "btag": ak.values_astype((ak.values_astype(btag, np.int64) >> btag_bit) & 1, f32),
        }
    )


def read_delphes(
    path: str | Path,
    sample: str,
    process: int = -1,
    entry_start: int | None = None,
    entry_stop: int | None = None,
    btag_bit: int = 0,
    run: int = 0,
) -> RecoEvents:
    """Read entries [entry_start, entry_stop) of a Delphes tree (see the module docstring).

    Raises ReaderError naming the file (and the branch) for a missing file, tree or required
    branch, or NaN/inf values in any branch read.
    """
    path = Path(path)
    if not path.is_file():
        raise ReaderError(f"{path}: no such file")
    try:
        with uproot.open(path) as file:
            if TREE not in file:
                raise ReaderError(f"{path}: no tree {TREE!r}")
            return _read(
                _Tree(file[TREE], path, entry_start, entry_stop), sample, process, btag_bit, run
            )
    except ReaderError:
        raise
    except (OSError, ValueError) as err:  # not a ROOT file, truncated baskets, ...
        raise ReaderError(f"{path}: cannot read as a Delphes ROOT file ({err})") from err


def _read(tree: _Tree, sample: str, process: int, btag_bit: int, run: int) -> RecoEvents:
    jets = _jets(tree, btag_bit)
    n = len(jets)
    if tree.has("Event.Number"):
        event = tree.first("Event.Number").astype(np.int64)
    else:
        event = np.arange(tree.start, tree.stop, dtype=np.int64)
    if tree.has("Event.Weight"):
        weight = tree.first("Event.Weight").astype(np.float32)
    else:
        weight = np.ones(n, dtype=np.float32)
    return RecoEvents(
        sample=sample,
        run=np.full(n, run, dtype=np.int64),
        event=event,
        process=np.full(n, process, dtype=np.int32),
        weight=weight,
        jets=jets,
        muons=_leptons(tree, "Muon", MUON_MASS),
        electrons=_leptons(tree, "Electron", ELECTRON_MASS),
        met_pt=tree.first("MissingET.MET").astype(np.float32),
        met_phi=tree.first("MissingET.Phi").astype(np.float32),
    )
