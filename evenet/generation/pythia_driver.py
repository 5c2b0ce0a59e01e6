"""Configure Pythia 8 for one process and stream its events in batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import pythia8mc

from evenet.catalogue import Process
from evenet.errors import EvenetError
from evenet.generation.spin_hook import SpinCorrelationHook
from evenet.generation.weights import open_fractions

MB_TO_PB = 1e9
# Silence Pythia's banners and per-event listings: progress is ours, stdout stays clean.
_QUIET = (
    "Print:quiet = on",
    "Next:numberCount = 0",
    "Next:numberShowEvent = 0",
    "Next:numberShowInfo = 0",
    "Next:numberShowProcess = 0",
    "Init:showChangedSettings = off",
    "Init:showProcesses = off",
)
# Consecutive empty batches tolerated before giving up (nextBatch drops failed events).
_MAX_EMPTY_BATCHES = 20


class GenerationError(EvenetError, RuntimeError):
    """Pythia could not be configured or stopped producing events."""


@dataclass
class PythiaRun:
    """An initialised Pythia with its optional spin-correlation hook."""

    pythia: pythia8mc.Pythia
    process: Process
    hook: SpinCorrelationHook | None
    from_lhe: bool
    forced_fractions: dict[int, tuple[float, float]]  # id -> open decay fraction (p, p̄)

    def cross_section_pb(self) -> tuple[float, float]:
        """Pythia's σ estimate and its error in pb, before the spin-correlation veto."""
        info = self.pythia.infoPython()
        sigma, error = info.sigmaGen() * MB_TO_PB, info.sigmaErr() * MB_TO_PB
        if self.hook is not None and self.hook.accepted:
            sigma /= self.hook.acceptance
            error /= self.hook.acceptance
        return sigma, error

    def batches(self, n_events: int, batch_size: int) -> Iterator[ak.Array]:
        """Yield nextBatch arrays until ``n_events`` events (or the LHE file's end).

        nextBatch silently drops failed events, so a batch can be short or empty.
        """
        done, empty = 0, 0
        while done < n_events:
            batch = self.pythia.nextBatch(min(batch_size, n_events - done))
            if len(batch):
                empty = 0
                done += len(batch)
                yield batch
            elif not self._lhe_finished():
                empty += 1
                if empty > _MAX_EMPTY_BATCHES:
                    raise GenerationError(
                        f"Pythia failed to produce events for '{self.process.name}' "
                        f"{_MAX_EMPTY_BATCHES} batches in a row (after {done} events)"
                    )
            if self._lhe_finished():
                return

    def _lhe_finished(self) -> bool:
        # infoPython() returns a snapshot: ask again every time.
        return self.from_lhe and self.pythia.infoPython().atEndOfFile()


def build_pythia(
    process: Process,
    seed: int,
    base_settings: list[str] | tuple[str, ...] = (),
    lhe: str | Path | None = None,
    extra_settings: list[str] | tuple[str, ...] = (),
) -> PythiaRun:
    """Pythia with the common settings, the process block, the seed and (for LHE) the file."""
    pythia = pythia8mc.Pythia("", False)
    lines = [*_QUIET, *base_settings, *process.settings, *extra_settings]
    if lhe is not None:
        # Beams and energy come from the file's <init> block.
        lines += ["Beams:frameType = 4", f"Beams:LHEF = {lhe}"]
    lines += ["Random:setSeed = on", f"Random:seed = {int(seed)}"]
    for line in lines:
        if not pythia.readString(line):
            raise GenerationError(
                f"Pythia rejected the setting '{line}' (process '{process.name}')"
            )
    hook = None
    if process.spin_correlation:
        hook = SpinCorrelationHook(pythia.rndm)
        pythia.setUserHooksPtr(hook)
    if not pythia.init():
        raise GenerationError(
            f"Pythia failed to initialise process '{process.name}' "
            "(check its settings in config/processes.yaml"
            + (f" and the LHE file {lhe}" if lhe else "")
            + ")"
        )
    try:
        fractions = open_fractions(pythia, process.forced_decays)
    except ValueError as error:
        raise GenerationError(f"process '{process.name}': {error}") from None
    return PythiaRun(
        pythia=pythia,
        process=process,
        hook=hook,
        from_lhe=lhe is not None,
        forced_fractions=fractions,
    )
