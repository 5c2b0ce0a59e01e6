"""The background's statistics: per sample what was generated, what the selection keeps, and
how many events each background sample needs for a target precision (issue 15).

Weights are physical, w·σ/Σw per sample (a pTHat slice is unweighted within itself), so the
test split's background N_eff = (Σ σ_s ε_s)² / Σ_s σ_s² ε_s / n_s with ε_s the selection
efficiency and n_s the generated test events of slice s. Quoting 1/ε_B = R needs the passing
background to have N_eff ≥ 25, so the whole selected test background needs N_eff ≥ 25·R
(passing events are a fraction 1/R of it, at similar weights). The fewest generated events
reaching a target N_eff put N_s ∝ σ_s √ε_s (Lagrange multipliers on Σ N_s with the N_eff
constraint); a slice with no selected pilot event uses ε < 3/N (95% CL) and is flagged.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

ZERO_EVENT_UPPER = 3.0  # 95% CL upper limit on a Poisson mean with no event seen


def pilot_rows(manifest: Mapping, cutflow: list[dict]) -> list[dict]:
    """One row per sample: category, generated, written, σ, selected events, Σw, N_eff, the
    selection efficiency and the selected σ (pb)."""
    last_step = {}
    for row in cutflow:
        last_step[row["sample"]] = row  # rows are in step order: the last is the selection
    processes = manifest.get("processes", {})
    rows = []
    for name, sample in manifest["samples"].items():
        selected = last_step.get(name)
        if selected is None:
            continue
        pids = np.atleast_1d(sample.get("process", [])).tolist()
        category = processes.get(str(pids[0]), {}).get("category", "") if pids else ""
        total_w = float(sample.get("sum_weights") or 0.0)
        xsec = sample.get("xsec_pb")
        efficiency = float(selected["weighted"]) / total_w if total_w else float("nan")
        rows.append(
            {
                "sample": name,
                "category": category,
                "generated": sample.get("generated"),
                "written": int(sample.get("events", 0)),
                "xsec_pb": xsec,
                "selected": int(selected["events"]),
                "selected_sum_w": float(selected["weighted"]),
                "selected_n_eff": float(selected["n_eff"]),
                "efficiency": efficiency,
                "selected_xsec_pb": xsec * efficiency if xsec is not None else None,
            }
        )
    return rows


def plan(
    rows: list[dict],
    target_neff: float,
    test_fraction: float,
    train_fraction: float = 0.8,
    train_background: float = 0.0,
) -> dict[str, dict]:
    """Generated events per background sample for a test-split background N_eff of
    ``target_neff`` with the fewest events in total (N_s ∝ σ_s √ε_s; ε_s per generated event,
    from the pilot), scaled up (same shares) where the train split would hold fewer than
    ``train_background`` selected background events (the largest training size's 90%).
    Returns {sample: {events, efficiency, upper_limit, limited_by}}."""
    background = [r for r in rows if r["category"] == "background"]
    sigma, eps, upper = [], [], []
    for r in background:
        generated = r["generated"] or r["written"]
        # per generated event: the pilot's selected fraction (σ already holds the filter)
        selected_fraction = r["selected"] / generated if generated else 0.0
        zero = r["selected"] == 0
        eps.append(ZERO_EVENT_UPPER / generated if zero else selected_fraction)
        upper.append(zero)
        # σ before the filter (xsec_pb holds its efficiency, written/generated): every
        # generated event then weighs σ_gen/N, whether the filter kept it or not
        sigma.append(r["xsec_pb"] * (generated / r["written"] if r["written"] else 1.0))
    sigma, eps = np.array(sigma, float), np.array(eps, float)
    selected_sigma = float(np.sum(sigma * eps))
    root = sigma * np.sqrt(eps)
    # Σ_s σ_s² ε_s / (f N_s) = (Σ σ ε)² / target with N_s = c σ_s √ε_s  ->  c below
    scale = target_neff * root.sum() / (test_fraction * selected_sigma**2)
    events = scale * root
    selected_train = train_fraction * float(np.sum(events * eps))
    limited_by = "test N_eff"
    if selected_train < train_background:
        events = events * (train_background / selected_train)
        limited_by = "training size"
    return {
        r["sample"]: {
            "events": int(np.ceil(n)),
            "efficiency": float(e),
            "upper_limit": bool(u),
            "limited_by": limited_by,
        }
        for r, n, e, u in zip(background, events, eps, upper, strict=True)
    }


def background_neff(sigma, efficiency, events, test_fraction: float) -> float:
    """The test split's selected-background N_eff for generated ``events`` per slice."""
    sigma, eps, n = (np.asarray(a, float) for a in (sigma, efficiency, events))
    return float(np.sum(sigma * eps) ** 2 / np.sum(sigma**2 * eps / (test_fraction * n)))
