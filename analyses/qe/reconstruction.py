"""tt̄ reconstruction on the selected test events: EveNet, the analytic ellipse method, the
diagnostics mixing reco and truth, and the parton level (issue 14).

Every method gives, per selected event, the two tops (K samples each) and the charged leptons
(taken by charge: ℓ⁺ from t, ℓ⁻ from t̄), from which `evenet.physics.spin.observables`
follows. The pairing is the (b, ℓ) of each top as object slots, [[b, ℓ⁺], [b̄, ℓ⁻]], compared
with the truth for the pairing efficiency.

* ``evenet``: the b of each top from the exclusive decode of ``assignment.ttbar_dilepton``
  (row t1 = [b, ℓ⁺], row t2 = [b̄, ℓ⁻]); ν (slot 0) with ℓ⁺, ν̄ (slot 1) with ℓ⁻, K sampled
  neutrino pairs per event. Where the decode gives no jet for a top (or the same jet twice) the
  event falls back to the analytic pairing of the selection's b candidates (counted).
* ``analytic``: `evenet.physics.neutrino.pair_and_reconstruct` on the selection's two b
  candidates with the configured masses (K = 1).
* diagnostics, per reconstruction R: ``R_truth_pairing`` (R's neutrinos, the true b jets
  where both are reconstructed jets; the analytic method re-solves with them) and
  ``R_truth_nu`` (R's pairing, the generator's neutrinos).
* ``parton``: the generator's tops and leptons, for every test event (selected or not).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from analyses.qe.events import SplitEvents, neutrino_four_vectors, pick
from evenet.physics import neutrino, spin

OBSERVABLES = (
    *(f"cos_plus_{a}" for a in spin.AXES),
    *(f"cos_minus_{a}" for a in spin.AXES),
    *(f"cc_{a}{b}" for a in spin.AXES for b in spin.AXES),
    "cos_phi",
)


@dataclass(frozen=True)
class Method:
    """Which reconstruction: ``name`` (evenet, analytic, parton, R_truth_pairing,
    R_truth_nu) and, for EveNet, the fine-tuning (run, mode, size, seed)."""

    name: str
    run: str = ""
    mode: str = ""
    size: str = ""
    seed: str = ""

    @property
    def label(self) -> str:
        if not self.run:
            return self.name
        return f"{self.name}_{self.run}_{self.mode}_size{self.size}_seed{self.seed}"

    def fields(self) -> dict[str, str]:
        return {
            "method": self.name,
            "run": self.run,
            "mode": self.mode,
            "size": self.size,
            "seed": self.seed,
        }

    def variant(self, suffix: str) -> Method:
        return Method(f"{self.name}_{suffix}", self.run, self.mode, self.size, self.seed)


@dataclass(frozen=True)
class Reconstructed:
    """One method on the selected events (n of them, ``rows`` into the SplitEvents)."""

    method: Method
    rows: np.ndarray  # (n,)
    top: np.ndarray  # (n, K, 4)
    antitop: np.ndarray  # (n, K, 4)
    lepton_plus: np.ndarray  # (n, 4)
    lepton_minus: np.ndarray  # (n, 4)
    pairing: np.ndarray  # (n, 2, 2) slots [[b, ℓ⁺], [b̄, ℓ⁻]] the method used
    info: dict = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return self.top.shape[1]


def _mass(p4: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(p4[..., 0] ** 2 - (p4[..., 1:] ** 2).sum(-1), 0.0))


def _assemble(method, events, rows, b_slot, bbar_slot, nu, nubar, info) -> Reconstructed:
    """Tops b + ℓ⁺ + ν and b̄ + ℓ⁻ + ν̄ of the selected ``rows``; nu, nubar (n, K, 4)."""
    sel = events.selection
    plus, minus = sel.lepton_plus[rows], sel.lepton_minus[rows]
    objects = events.objects[rows]
    lepton_plus, lepton_minus = pick(objects, plus), pick(objects, minus)
    b, bbar = pick(objects, b_slot), pick(objects, bbar_slot)
    top = (b + lepton_plus)[:, None, :] + nu
    antitop = (bbar + lepton_minus)[:, None, :] + nubar
    pairing = np.stack([np.stack([b_slot, plus], 1), np.stack([bbar_slot, minus], 1)], 1)
    return Reconstructed(method, rows, top, antitop, lepton_plus, lepton_minus, pairing, info)


def _selected_rows(events: SplitEvents) -> np.ndarray:
    return np.flatnonzero(events.selected)


def _leptons(events: SplitEvents, rows: np.ndarray):
    objects = events.objects[rows]
    sel = events.selection
    return pick(objects, sel.lepton_plus[rows]), pick(objects, sel.lepton_minus[rows])


def analytic_pairing(events: SplitEvents, rows: np.ndarray, m_top: float, m_w: float):
    """(b slot, b̄ slot, Reconstruction) of the analytic method on ``rows``."""
    objects = events.objects[rows]
    candidates = events.selection.b_candidates[rows]
    lepton_plus, lepton_minus = _leptons(events, rows)
    _, _, solved, first = neutrino.pair_and_reconstruct(
        pick(objects, candidates[:, 0]),
        pick(objects, candidates[:, 1]),
        lepton_plus,
        lepton_minus,
        events.met_x[rows],
        events.met_y[rows],
        m_top,
        m_w,
    )
    b_slot = np.where(first, candidates[:, 0], candidates[:, 1])
    bbar_slot = np.where(first, candidates[:, 1], candidates[:, 0])
    return b_slot, bbar_slot, solved


def analytic(events: SplitEvents, m_top: float, m_w: float) -> Reconstructed:
    rows = _selected_rows(events)
    b_slot, bbar_slot, solved = analytic_pairing(events, rows, m_top, m_w)
    info = {"no_solution_fraction": float(1.0 - solved.solved.mean()) if len(rows) else 0.0}
    return _assemble(
        Method("analytic"),
        events,
        rows,
        b_slot,
        bbar_slot,
        solved.nu[:, None, :],
        solved.nubar[:, None, :],
        info,
    )


def _truth_b_slots(events: SplitEvents, rows: np.ndarray, b_slot, bbar_slot):
    """The true b jets where both are reconstructed jets (distinct), else the given slots;
    and where the truth was used."""
    truth = events.truth_assignment[rows]
    tb, tbbar = truth[:, 0, 0], truth[:, 1, 0]
    is_jet = events.is_jet[rows]
    n = np.arange(len(rows))
    usable = (tb >= 0) & (tbbar >= 0) & (tb != tbbar)
    usable &= is_jet[n, np.maximum(tb, 0)] & is_jet[n, np.maximum(tbbar, 0)]
    return np.where(usable, tb, b_slot), np.where(usable, tbbar, bbar_slot), usable


def _resolve(events, rows, b_slot, bbar_slot, m_top, m_w):
    objects = events.objects[rows]
    lepton_plus, lepton_minus = _leptons(events, rows)
    return neutrino.reconstruct(
        pick(objects, b_slot),
        lepton_plus,
        pick(objects, bbar_slot),
        lepton_minus,
        events.met_x[rows],
        events.met_y[rows],
        m_top,
        m_w,
    )


def with_truth_pairing(
    events: SplitEvents, reco: Reconstructed, m_top: float, m_w: float
) -> Reconstructed:
    """Diagnostic: the true b jets (where both are jets) with the method's neutrinos; the
    analytic method solves its neutrinos anew for the true pairing."""
    rows = reco.rows
    b_slot, bbar_slot, usable = _truth_b_slots(
        events, rows, reco.pairing[:, 0, 0], reco.pairing[:, 1, 0]
    )
    info = {"truth_pairing_fraction": float(usable.mean()) if len(rows) else 0.0}
    if reco.method.name == "analytic":
        solved = _resolve(events, rows, b_slot, bbar_slot, m_top, m_w)
        nu, nubar = solved.nu[:, None, :], solved.nubar[:, None, :]
        info["no_solution_fraction"] = float(1.0 - solved.solved.mean()) if len(rows) else 0.0
    else:
        nu, nubar = _neutrinos_of(reco, events)
    method = reco.method.variant("truth_pairing")
    return _assemble(method, events, rows, b_slot, bbar_slot, nu, nubar, info)


def _neutrinos_of(reco: Reconstructed, events: SplitEvents):
    """The (ν, ν̄) (n, K, 4) a reconstruction used (tops minus their b and lepton)."""
    objects = events.objects[reco.rows]
    b, bbar = pick(objects, reco.pairing[:, 0, 0]), pick(objects, reco.pairing[:, 1, 0])
    nu = reco.top - (b + reco.lepton_plus)[:, None, :]
    nubar = reco.antitop - (bbar + reco.lepton_minus)[:, None, :]
    return nu, nubar


def with_truth_neutrinos(events: SplitEvents, reco: Reconstructed) -> Reconstructed:
    """Diagnostic: the method's pairing with the generator's (ν, ν̄)."""
    truth = events.truth_neutrinos[reco.rows]
    return _assemble(
        reco.method.variant("truth_nu"),
        events,
        reco.rows,
        reco.pairing[:, 0, 0],
        reco.pairing[:, 1, 0],
        truth[:, None, 0, :],
        truth[:, None, 1, :],
        {},
    )


def evenet(
    events: SplitEvents,
    method: Method,
    assignment: np.ndarray,
    neutrinos: np.ndarray,
    m_top: float,
    m_w: float,
) -> Reconstructed:
    """EveNet's reconstruction from its predictions aligned to ``events``: ``assignment``
    (n_events, 2, 2) decoded slots, ``neutrinos`` (n_events, K, 2, 3) raw (pT, η, φ)."""
    rows = _selected_rows(events)
    decoded = np.asarray(assignment, dtype=np.int64)[rows]
    b_slot, bbar_slot = decoded[:, 0, 0], decoded[:, 1, 0]
    is_jet = events.is_jet[rows]
    n = np.arange(len(rows))
    usable = (b_slot >= 0) & (bbar_slot >= 0) & (b_slot != bbar_slot)
    usable &= is_jet[n, np.maximum(b_slot, 0)] & is_jet[n, np.maximum(bbar_slot, 0)]
    if (~usable).any():
        fb, fbbar, _ = analytic_pairing(events, rows[~usable], m_top, m_w)
        b_slot, bbar_slot = b_slot.copy(), bbar_slot.copy()
        b_slot[~usable], bbar_slot[~usable] = fb, fbbar
    samples = neutrino_four_vectors(np.asarray(neutrinos)[rows])  # (n, K, 2, 4)
    info = {
        "fallback_fraction": float((~usable).mean()) if len(rows) else 0.0,
        "neutrino_samples": int(samples.shape[1]),
        "decoded": decoded,  # the efficiency judges the decode itself, not the fallback
    }
    return _assemble(
        method, events, rows, b_slot, bbar_slot, samples[:, :, 0], samples[:, :, 1], info
    )


def pairing_correct(events: SplitEvents, reco: Reconstructed) -> np.ndarray:
    """(n,) both rows exactly the true [[b, ℓ⁺], [b̄, ℓ⁻]] (swapped rows are wrong: tt̄ has
    no symmetry; unmatchable events are wrong). EveNet is judged on its decoded rows."""
    pairing = reco.info.get("decoded", reco.pairing)
    truth = events.truth_assignment[reco.rows]
    return np.all(pairing == truth, axis=(1, 2)) & events.matchable[reco.rows]


def observables_table(events: SplitEvents, reco: Reconstructed) -> pa.Table:
    """One row per (selected event, sample k): keys, half, k, weight (event weight / K),
    the reconstructed m_tt (GeV) and the 16 observables."""
    k = reco.samples
    rows = np.repeat(reco.rows, k)
    values = spin.observables(
        reco.top, reco.antitop, reco.lepton_plus[:, None, :], reco.lepton_minus[:, None, :]
    )
    columns = _keys(events, rows)
    columns["k"] = np.tile(np.arange(k, dtype=np.int16), len(reco.rows))
    columns["weight"] = events.weight[rows] / k
    columns["mtt"] = _mass(reco.top + reco.antitop).reshape(-1)
    for name in OBSERVABLES:
        columns[name] = np.asarray(values[name], dtype=np.float64).reshape(-1)
    return pa.table(columns)


def parton_table(events: SplitEvents) -> pa.Table:
    """Every test event at parton level: keys, half, selected, weight, m_tt, β_z of the tt̄
    system and the 16 observables."""
    p = events.partons
    rows = np.arange(len(events))
    values = spin.observables(p.top, p.antitop, p.lepton_plus, p.lepton_minus)
    ttbar = p.top + p.antitop
    columns = _keys(events, rows)
    columns["selected"] = events.selected
    columns["weight"] = events.weight
    columns["mtt"] = p.mtt
    columns["beta_z"] = np.abs(ttbar[:, 3] / ttbar[:, 0])
    for name in OBSERVABLES:
        columns[name] = np.asarray(values[name], dtype=np.float64)
    return pa.table(columns)


def _keys(events: SplitEvents, rows: np.ndarray) -> dict:
    return {
        "sample": pa.array(events.sample[rows].tolist(), type=pa.string()),
        "run": events.run[rows],
        "event": events.event[rows],
        "half": events.half[rows].astype(np.int8),
    }
