"""The reader-independent event record every reader returns and the point-cloud builder reads.

Readers (our ntuples and CMS NanoAOD, Delphes, plain tables) all produce ``RecoEvents``:
per-event arrays plus ragged awkward records for jets, muons and electrons, in GeV and
radians, b-tag already decided (0/1). Truth (``genpart``, ``genPartIdx``) is optional: it is
None wherever the input has no hard-process record of ours.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from evenet.errors import EvenetError

# Fields every object collection carries (ragged, one list per event).
JET_FIELDS = ("pt", "eta", "phi", "mass", "btag")
LEPTON_FIELDS = ("pt", "eta", "phi", "mass", "charge", "iso", "ip3d")
GENPART_FIELDS = ("pdgId", "genPartIdxMother", "pt", "eta", "phi", "mass")


class ReaderError(EvenetError, ValueError):
    """An input file cannot be read as asked; the message names the file and the branch."""


@dataclass
class RecoEvents:
    """One chunk of reconstructed events from one sample.

    jets:      ragged records JET_FIELDS (+ "genPartIdx" when truth exists), btag in {0, 1}
    muons, electrons: ragged records LEPTON_FIELDS (+ "genPartIdx"); iso = relative isolation
               (muons ΔR 0.4, electrons ΔR 0.3), ip3d in cm; a format without a field fills it
               with NaN-free defaults documented by that reader
    met_pt, met_phi: per event
    genpart:   ragged records GENPART_FIELDS (our hard-process list) or None
    """

    sample: str
    run: np.ndarray  # int64
    event: np.ndarray  # int64
    process: np.ndarray  # int32 (catalogue id; -1 for data)
    weight: np.ndarray  # float32
    jets: ak.Array
    muons: ak.Array
    electrons: ak.Array
    met_pt: np.ndarray
    met_phi: np.ndarray
    genpart: ak.Array | None = None

    def __len__(self) -> int:
        return len(self.run)

    @property
    def has_truth(self) -> bool:
        return self.genpart is not None
