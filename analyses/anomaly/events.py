"""The analysis's data events (issue 17 §2-3): the anti-isolated dimuon selection of a dataset,
the injection of truth signal at chosen S/sqrt(B_SR), and the sideband events the generators
fine-tune on.

* Selection: two muons in the leading slots, pT > 17 / 8 GeV, |eta| < 2.4, both with relative
  isolation >= 0.55 (anti-isolated), m_mumu inside the sidebands' outer ends. Opposite-sign
  events are the analysis sample, same-sign ones the control.
* Injection (simulation only): the signal samples' selected events are put in a fixed hash
  order; injection k takes the shortest prefix holding round(k * sqrt(B_SR)) opposite-sign
  signal events in the SR, with B_SR the opposite-sign background count in the SR (generator
  truth). The prefixes are nested, so a larger injection holds every event of a smaller one;
  signal events of the prefix outside the SR (resolution tails) come along, as in data.
* Sideband events: the opposite-sign events in the sidebands at the largest injection (the
  signal leaking into the SB is counted in injections.json), split 80/20 into generator
  training and validation by the fine-tuning's own hash (evenet.io.selection).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from analyses.anomaly.quality import MuonCuts, passes
from evenet.errors import EvenetError
from evenet.io.predictions import (
    dataset_table,
    event_hash_uniform,
    extra_feature_names,
    keys,
    to_numpy,
)
from evenet.io.training_events import validation_mask
from evenet.stats.weak_supervision import in_sidebands

INJECTION_SALT = 0x1A7EC7  # event_uniform stream ordering the signal events for injection
MIN_ISOLATION = 0.55  # both muons: pfRelIso04_all >= 0.55 (anti-isolated, arXiv:2502.14036)


class AnomalyInputError(EvenetError, ValueError):
    """The dataset cannot feed the anomaly analysis (a missing feature, no signal events)."""


def _index(names: Sequence[str], name: str, what: str, dataset) -> int:
    if name not in names:
        raise AnomalyInputError(
            f"{dataset} has no {what} feature {name!r} (it has {list(names)}): convert it with "
            "the `anomaly` variant (x_extra [iso, ip3d], globals_extra [M_ll, pT_ll, dR_ll])"
        )
    return list(names).index(name)


def select(dataset, sb: tuple[float, float]) -> pa.Table:
    """The selected events of a dataset folder with m_mumu inside ``sb``'s outer ends: sample,
    run, event, process, mass, dimuon_pt, mu0_ip3d, mu1_ip3d and opposite_sign."""
    x_extra, globals_extra = extra_feature_names(dataset)
    iso = _index(x_extra, "iso", "x_extra", dataset)
    ip3d = _index(x_extra, "ip3d", "x_extra", dataset)
    m_ll = _index(globals_extra, "M_ll", "globals_extra", dataset)
    pt_ll = _index(globals_extra, "pT_ll", "globals_extra", dataset)
    table = dataset_table(dataset, ["x", "x_mask", "x_extra", "globals_extra", "process"])
    extra = to_numpy(table.column("x_extra"))
    globals_extra = to_numpy(table.column("globals_extra"))
    mass = globals_extra[:, m_ll].astype(np.float64)
    anti_isolated = (extra[:, :2, iso] >= MIN_ISOLATION).all(1)
    # sb ends inclusive as the bump hunt's bins (in_sidebands); passes() is exclusive
    window = (np.nextafter(sb[0], -np.inf), np.nextafter(sb[1], np.inf))
    opposite = passes(table, window, MuonCuts(opposite_sign=True), mass=mass)
    same = passes(table, window, MuonCuts(opposite_sign=False), mass=mass)
    keep = (opposite | same) & anti_isolated
    rows = pa.array(np.flatnonzero(keep), pa.int64())
    chosen = table.select(["sample", "run", "event", "process"]).take(rows)
    values = {
        "mass": mass[keep],
        "dimuon_pt": globals_extra[keep, pt_ll].astype(np.float64),
        "mu0_ip3d": extra[keep, 0, ip3d].astype(np.float64),
        "mu1_ip3d": extra[keep, 1, ip3d].astype(np.float64),
        "opposite_sign": opposite[keep],
    }
    for name, column in values.items():
        chosen = chosen.append_column(name, pa.array(column))
    return chosen


def injection_plan(
    table: pa.Table,
    signal_samples: Sequence[str],
    injections: Sequence[float],
    sr: tuple[float, float],
    sb: tuple[float, float],
) -> tuple[np.ndarray, dict]:
    """Per event its rank among the signal events (-1: background) and the plan: B_SR and, per
    injection, the signal events it takes (in the SR, in the SB, in total)."""
    sample = keys(table)[0].astype(str)
    mass = to_numpy(table.column("mass"))
    opposite = to_numpy(table.column("opposite_sign")).astype(bool)
    is_signal = np.isin(sample, list(signal_samples))
    in_sr = (mass > sr[0]) & (mass < sr[1])
    b_sr = int((~is_signal & opposite & in_sr).sum())
    signal_rows = np.flatnonzero(is_signal)
    uniform = event_hash_uniform(table.take(pa.array(signal_rows, pa.int64())), INJECTION_SALT)
    order = signal_rows[np.argsort(uniform, kind="stable")]
    rank = np.full(table.num_rows, -1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    counts_sr = np.cumsum(opposite[order] & in_sr[order])
    counts_sb = np.cumsum(opposite[order] & in_sidebands(mass[order], sr, sb))
    available = int(counts_sr[-1]) if len(order) else 0
    plan: dict = {"b_sr": b_sr, "signal_available_sr": available, "injections": {}}
    for k in injections:
        wanted = int(round(k * math.sqrt(b_sr)))
        if wanted > available:
            raise AnomalyInputError(
                f"injection {k} sigma needs {wanted} opposite-sign signal events in the SR "
                f"(B_SR = {b_sr}) but the signal samples {list(signal_samples)} have {available}: "
                "generate more signal or lower the injection"
            )
        prefix = 0 if wanted == 0 else int(np.searchsorted(counts_sr, wanted) + 1)
        plan["injections"][search_name(k)] = {
            "injection": float(k),
            "signal_sr": wanted,
            "signal_sb": int(counts_sb[prefix - 1]) if prefix else 0,
            "signal_total": prefix,
            "s_over_sqrt_b": wanted / math.sqrt(b_sr) if b_sr else float("nan"),
        }
    return rank, plan


def search_name(injection: float) -> str:
    """inj0, inj1, inj2p5, ...: the name of one injected search."""
    text = f"{float(injection):g}".replace(".", "p")
    return f"inj{text}"


def search_rows(table: pa.Table, signal_total: int | None) -> np.ndarray:
    """The rows of one search: every background event and the first ``signal_total`` signal
    events (None: every event, real data)."""
    rank = to_numpy(table.column("signal_rank"))
    if signal_total is None:
        return np.arange(table.num_rows)
    return np.flatnonzero((rank < 0) | (rank < signal_total))


def generator_validation(table: pa.Table, val_fraction: float) -> np.ndarray:
    """The events the generator fine-tuning validates on (its own re-split hash)."""
    return validation_mask(table, val_fraction)
