"""Stage `qe_summary`: summary.md (our numbers beside the published ones, each labelled with its
definition) and the plots, from the tables of the earlier stages.

    python -m analyses.qe.summary --results DIR [--mtt-max 400 --luminosity-fb 139
        --cross-section-pb 38.8]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.qe import plots
from analyses.qe.paths import PLOTS
from evenet.errors import EvenetError
from evenet.io.results import write_text

TEXT_COLUMNS = {
    "method",
    "run",
    "mode",
    "size",
    "seed",
    "status",
    "quantity",
    "level",
    "observable",
    "region",
    "step",
    "label",
    "setup",
}
EVENET_NORMALISATION = (19.29, 140.0)  # pb, fb^-1: EveNet's dilepton sample (PHYSICS.md §3)
REFERENCES = [
    (
        "PHYSICS.md §3 (a check with this generator method)",
        "parton D, m_tt < 400 GeV",
        "−0.46 ± 0.02",
    ),
    ("LO gg at fixed m_tt", "parton D", "−0.98 (346), −0.79 (360), −0.61 (380), −0.49 (400 GeV)"),
    (
        "ATLAS, Nature 633 (2024) 542, 140 fb⁻¹, particle level",
        "D, 340 < m_tt < 380 GeV",
        "−0.537 ± 0.002 (stat) ± 0.019 (syst)",
    ),
    ("CMS, Rep. Prog. Phys. 87 (2024) 117801", "D, threshold", "−0.480 +0.026 −0.029"),
    (
        "EveNet paper (result table; ε = σ/value of the concurrence, SVD unfolding, diagonal "
        "errors)",
        "ε at 15k training events",
        "1.85% pretrained, 2.68% scratch",
    ),
    (
        "EveNet, EPS-HEP 2025 talk (ε = σ(D′)/(D′ − 1); definition not verified)",
        "ε",
        "3.43% pretrained, 3.93% scratch",
    ),
    ("Severi et al., EPJC 82 (2022) 285 (as quoted in the talk)", "ε at 139 fb⁻¹", "5.26%"),
    (
        "EveNet paper",
        "b-ℓ pairing, 15k / 1475k training events",
        "48.3% / 82.4% pretrained, 24.3% / 81.8% scratch",
    ),
]


def read_table(path: Path) -> pd.DataFrame:
    """A CSV of the earlier stages: text columns as strings ("" for none), numbers as floats."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in table.columns:
        if column not in TEXT_COLUMNS:
            table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def _fmt(value, digits=3) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "—" if not np.isfinite(value) else f"{value:.{digits}f}"


def _method_name(row) -> str:
    if row["method"] == "parton":
        return "parton (half B)"
    if not row["run"]:
        return row["method"]
    return f"{row['method']} {row['mode']} {row['size']} (seed {row['seed']})"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _main_methods(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["method"].isin(["analytic", "evenet"])]


def markdown(results: Path, mtt_max: float, lumi: float, xsec: float) -> str:
    cutflow = read_table(results / "cutflow.csv")
    parton = read_table(results / "parton.csv")
    pairing = read_table(results / "pairing.csv")
    spin = read_table(results / "spin_matrix.csv")
    closure = read_table(results / "closure.csv")
    precision = read_table(results / "precision.csv")
    bins = read_table(results / "bins.csv")
    info = json.loads((results / "reconstruction.json").read_text())
    report = json.loads((results / "unfolding.json").read_text())
    out = [
        "# qe: entanglement in tt̄ → bℓν bℓν\n",
        "Made by `snakemake qe_all` (analyses/qe). Every number below comes from the CSV "
        "files beside this summary; their columns are described in analyses/qe/README.md.\n",
        "## Conventions\n",
        "Helicity basis in the tt̄ rest frame (k̂ the top direction, r̂ and n̂ from the +z beam; "
        "the same axes for t and t̄, and r̂, n̂ are **not** flipped by the sign of cos Θ); lepton "
        "directions in their top's rest frame (rotation-free boosts through the tt̄ frame). "
        "C_ij = −9⟨cos θ⁺_i cos θ⁻_j⟩, B⁺_i = 3⟨cos θ⁺_i⟩, B⁻_i = −3⟨cos θ⁻_i⟩, D = tr C/3, "
        "D_φ = −3⟨cos φ⟩ (identical to D event by event before unfolding), D′ = −3D. "
        "Entangled: D < −1/3 ⇔ D′ > 1. Precision ε = σ(D)/|D + 1/3| = σ(D′)/(D′ − 1), and "
        "σ(D)/|D| (CMS's convention). The headline is the unfolded D_φ; tr C/3 is its "
        "cross-check.\n",
        f"Region: parton m_tt < {mtt_max:g} GeV. Unfolding: response-matrix inversion "
        "(numpy.linalg.solve), m_tt {<, ≥ " + f"{mtt_max:g}" + " GeV} × 8 bins of x in "
        "[−1, 1] per observable, response and efficiency from half A of the test split "
        "(even event numbers), pseudo-data half B (odd); no training event enters either. "
        "The mean in the threshold region uses the truth mean of x in each bin.\n",
        f"Luminosity {lumi:g} fb⁻¹, σ(tt̄ → ℓℓ, ℓ = e, μ) = {xsec:g} pb (832 pb × (2 × 0.108)²; "
        "never Pythia's LO σ); λ = L σ / N(half B) = "
        f"{report['lambda']:.1f} expected events per simulated half-B event.\n",
        f"Generator masses in the analytic solver: m_t = {info['m_top']:g} GeV, "
        f"m_W = {info['m_w']:g} GeV.\n",
        "## References (published)\n",
        _table(["reference", "quantity", "value"], [list(r) for r in REFERENCES]),
        "## Selection\n",
        _table(
            ["step", "events", "weighted", "efficiency"],
            [
                [r["step"], str(int(r["events"])), _fmt(r["weighted"], 1), _fmt(r["efficiency"])]
                for _, r in cutflow.iterrows()
            ],
        ),
        f"Test split: {info['test_events']} events, {info['selected']} selected "
        f"({info['half_a_selected']} in half A, {info['half_b_selected']} in half B), "
        f"{info['matchable_selected']} selected with all four truth objects reconstructed.\n",
        "## Parton level (every event of the dataset, all splits)\n",
        _table(
            ["region", "events", "D", "D_φ", "C_kk", "C_rr", "C_nn"],
            [
                [region, str(int(group["events"].iloc[0]))]
                + [
                    _fmt(group[group["quantity"] == q]["value"].iloc[0])
                    + " ± "
                    + _fmt(group[group["quantity"] == q]["stat"].iloc[0])
                    for q in ("D", "D_phi", "C_kk", "C_rr", "C_nn")
                ]
                for region, group in parton.groupby("region", sort=False)
            ],
        ),
        "Errors: standard errors of the event means (statistical only).\n",
        "## Pairing (b-jet of each top; both rows exactly right)\n",
        _table(
            ["method", "matchable", "all selected", "n matchable / n"],
            [
                [
                    _method_name(r),
                    f"{100 * r['eff_matchable']:.1f} ± {100 * r['eff_matchable_err']:.1f}%",
                    f"{100 * r['eff_all']:.1f} ± {100 * r['eff_all_err']:.1f}%",
                    f"{int(r['n_matchable'])} / {int(r['n'])}",
                ]
                for _, r in pairing.iterrows()
            ],
        ),
        _reconstruction_notes(info),
        "## Unfolded D (half B), closure and precision\n",
        _precision_table(precision, closure, spin),
        "σ(toys): standard deviation of the Poisson toys at the luminosity with half A's "
        "response fixed — **the response statistics are not in σ**; σ(boot) in the closure "
        "columns resamples both halves (Poisson(1) bootstrap) and so includes them. "
        "ε = σ(toys)/|D_B + 1/3| with D_B half B's parton value. EveNet's normalisation "
        f"({EVENET_NORMALISATION[0]} pb × {EVENET_NORMALISATION[1]:g} fb⁻¹) would scale every σ "
        f"by {_evenet_scale(lumi, xsec):.2f} (σ ∝ 1/√(L σ)).\n",
        "## Cross-checks on the same inputs (half B, D_φ and tr C/3)\n",
        _crosscheck_table(read_table(results / "crosscheck.csv")),
        "## Why an unfolding can fail: the m_tt regions at reco level (half A)\n",
        _migration_table(report),
        "## How many events the unfolding needs (analytic method)\n",
        _response_study(results),
        "## Spin matrix (unfolded, half B)\n",
        _spin_table(spin),
        "## Statistics behind the numbers\n",
        _bin_statistics(bins),
        "## Plots\n",
        "\n".join(f"![{name}](plots/{name}.png)" for name in PLOTS) + "\n",
        "## What this scale can and cannot show\n",
        "At local scale the test split holds a few thousand events: the 16 × 16 responses "
        "are built from tens of events per truth bin, the inversion amplifies their "
        "fluctuations, and the numbers check the code path, not the physics. The ε figures "
        "scale the pseudo-data to the luminosity but keep the local response, so they are "
        "not comparable with the published ones until the response is built from ~10⁶ "
        "events (Perlmutter). The EveNet fine-tunings are the tiny preset with a short "
        "pretraining.\n",
    ]
    return "\n".join(out)


def _evenet_scale(lumi: float, xsec: float) -> float:
    return float(np.sqrt(lumi * xsec / (EVENET_NORMALISATION[0] * EVENET_NORMALISATION[1])))


def _reconstruction_notes(info: dict) -> str:
    lines = []
    for label, meta in info["methods"].items():
        parts = []
        if "no_solution_fraction" in meta:
            parts.append(f"no ellipse solution {100 * meta['no_solution_fraction']:.1f}%")
        if "fallback_fraction" in meta:
            parts.append(f"decode fallback {100 * meta['fallback_fraction']:.1f}%")
        if "truth_pairing_fraction" in meta:
            parts.append(f"true b jets used {100 * meta['truth_pairing_fraction']:.1f}%")
        parts.append(f"{meta['samples']} sample(s)/event, {meta['seconds']} s")
        lines.append(f"- `{label}`: " + ", ".join(parts))
    return "\n".join(lines) + "\n"


def _precision_table(precision, closure, spin) -> str:
    rows = []
    for _, r in precision[precision["quantity"] == "D_phi"].iterrows():
        key = (
            (closure["method"] == r["method"])
            & (closure["run"] == r["run"])
            & (closure["mode"] == r["mode"])
            & (closure["size"] == r["size"])
            & (closure["seed"] == r["seed"])
        )
        if not np.isfinite(r["D"]):
            rows.append([_method_name(r), "", "", "", "", "", "", r["status"]])
            continue
        c = closure[key & (closure["quantity"] == "D_phi")].iloc[0]
        d = closure[key & (closure["quantity"] == "D")].iloc[0]
        rows.append(
            [
                _method_name(r),
                f"{_fmt(r['D'])} (parton {_fmt(r['D_parton'])})",
                f"{_fmt(c['difference'])} ± {_fmt(c['sigma_bootstrap'])}",
                f"{_fmt(d['unfolded'])}; {_fmt(d['difference'])} ± {_fmt(d['sigma_bootstrap'])}",
                f"{_fmt(r['sigma'], 4)} (analytic {_fmt(r['sigma_analytic'], 4)})",
                f"{_fmt(100 * r['epsilon'], 2)}% / {_fmt(100 * r['epsilon_cms'], 2)}%",
                f"{_fmt(r['bias'], 4)} ± {_fmt(r['bias_err'], 4)}",
                r["status"],
            ]
        )
    return _table(
        [
            "method",
            "D_φ unfolded",
            "D_φ − parton ± σ(boot)",
            "tr C/3; − parton ± σ(boot)",
            "σ(D_φ) toys",
            "ε / σ/∣D∣",
            "bias (toys)",
            "status",
        ],
        rows,
    )


def _crosscheck_table(table: pd.DataFrame) -> str:
    rows = []
    for _, r in table[table["quantity"].isin(["D_phi", "D"])].iterrows():
        rows.append(
            [
                _method_name(r),
                r["quantity"],
                _fmt(r["parton"]),
                f"{_fmt(r['inversion'])} ± {_fmt(r['inversion_stat'])}",
                f"{_fmt(r['iterative'])} ± {_fmt(r['iterative_stat'])}"
                f" ({_fmt(r['iterations'], 0)} it.)",
                f"{_fmt(r['template'])} ± {_fmt(r['template_stat'])}",
                r["status"],
            ]
        )
    if not rows:
        return "No reconstruction had a response to cross-check.\n"
    return (
        _table(
            [
                "method",
                "quantity",
                "parton (half B)",
                "inversion",
                "iterative Bayes (pyunfold, flat prior)",
                "template fit (iminuit)",
                "status",
            ],
            rows,
        )
        + "\nErrors: inversion propagated; iterative from Poisson(1) resamples of half B; "
        "template from HESSE. Neither includes the response statistics; the iterative result "
        "leans towards its flat prior (D = 0) when the data cannot pull it away.\n"
    )


def _migration_table(report: dict) -> str:
    rows = []
    for label, meta in report["methods"].items():
        m = meta["region_migration"]
        conditions = meta.get("condition", {})
        worst = max(conditions.values()) if conditions else float("nan")
        rows.append(
            [
                f"`{label}`",
                _fmt(m["p_reco_low_given_truth_low"], 2),
                _fmt(m["p_reco_low_given_truth_high"], 2),
                _fmt(m["reco_low_purity"], 2),
                _fmt(worst, 0),
                meta.get("status", "") or "unfolded",
            ]
        )
    return (
        _table(
            [
                "method",
                "P(reco low ∣ truth low)",
                "P(reco low ∣ truth high)",
                "reco-low purity",
                "largest condition number",
                "status",
            ],
            rows,
        )
        + "\nThe two probabilities must differ clearly for the region block of the response "
        "to be invertible; the reconstructed m_tt resolution decides it.\n"
    )


def _response_study(results: Path) -> str:
    table = read_table(results / "response_study.csv")
    rows = []
    for _, r in table.iterrows():
        if r["status"]:
            numbers = ["", "", "", r["status"]]
        else:
            numbers = [
                f"{_fmt(r['unfolded'])} (parton {_fmt(r['parton'])})",
                f"{_fmt(r['difference'])} ± {_fmt(r['sigma_central68'])}",
                f"{int(r['invertible_resamples'])} / {int(r['resamples'])}",
                "",
            ]
        rows.append(
            [
                r["setup"],
                f"{int(r['response_selected'])} / {int(r['data_selected'])}",
                r["quantity"],
                *numbers,
            ]
        )
    return (
        _table(
            [
                "setup",
                "selected events: response / pseudo-data",
                "quantity",
                "unfolded",
                "− parton ± σ (central 68% of resamples)",
                "invertible resamples",
                "status",
            ],
            rows,
        )
        + "\nBootstrap: Poisson(1) weights on the response and the pseudo-data events alike.\n"
    )


def _spin_table(spin: pd.DataFrame) -> str:
    quantities = ["C_kk", "C_rr", "C_nn", "C_rk", "C_kr", "B_plus_k", "B_minus_k", "D", "D_phi"]
    rows = []
    for level in ("parton", "reco", "unfolded"):
        subset = spin[spin["level"] == level]
        if level != "parton":
            subset = _main_methods(subset)
        for _, group in subset.groupby(["method", "run", "mode", "size", "seed"], sort=False):
            first = group.iloc[0]
            cells = []
            for q in quantities:
                found = group[group["quantity"] == q]
                value = found["value"].iloc[0] if len(found) else np.nan
                stat = found["stat"].iloc[0] if len(found) else np.nan
                cells.append(f"{_fmt(value, 2)} ± {_fmt(stat, 2)}")
            rows.append([level, _method_name(first), *cells])
    return _table(["level", "method", *quantities], rows)


def _bin_statistics(bins: pd.DataFrame) -> str:
    if bins.empty:
        return "No method could be unfolded.\n"
    low = bins[(bins["region"] == "low") & bins["method"].isin(["analytic", "evenet"])]
    if low.empty:
        return "No response could be built.\n"
    rows = []
    for (method, mode, size), group in low.groupby(["method", "mode", "size"], sort=False):
        rows.append(
            [
                f"{method} {mode} {size}".strip(),
                str(int(group["truth_events_a"].min())),
                str(int(group["selected_events_a"].min())),
                _fmt(group["reco_b"].min(), 1),
            ]
        )
    return (
        "Fewest events in a threshold-region bin over the 16 observables (bins.csv has every "
        "bin, with the unfolded count where the inversion succeeded):\n\n"
        + _table(["method", "half-A truth events", "half-A selected", "half-B reco count"], rows)
    )


def make_plots(results: Path, mtt_max: float) -> None:
    folder = results / "plots"
    pairing = read_table(results / "pairing.csv")
    spin = read_table(results / "spin_matrix.csv")
    precision = read_table(results / "precision.csv")
    bins = read_table(results / "bins.csv")
    import pyarrow.parquet as pq

    toys = pq.read_table(results / "toys.parquet").to_pandas()
    main = _main_methods(precision[precision["quantity"] == "D_phi"])
    main = main[np.isfinite(main["D"])]
    keys = ["method", "run", "mode", "size", "seed"]
    panels = [(_method_name(r), r[keys]) for _, r in main.iterrows()][:4]
    plots.cos_phi(bins, panels, folder / "cos_phi", mtt_max)
    matrices = [("parton (half B)", {"level": "parton"})] + [
        (_method_name(r), {"level": "unfolded", **{k: r[k] for k in keys}})
        for _, r in main.iterrows()
    ][:3]
    plots.spin_matrix(spin, matrices, folder / "spin_matrix")
    plots.precision_vs_size(precision, folder / "precision_vs_size", "D_phi")
    plots.pairing_vs_size(pairing, folder / "pairing_vs_size")
    plots.toy_pulls(toys, precision, folder / "toy_pulls", "D_phi")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="summary.md and plots of the qe analysis.")
    parser.add_argument("--results", required=True, type=Path, help="analyses/qe folder")
    parser.add_argument("--mtt-max", type=float, default=400.0)
    parser.add_argument("--luminosity-fb", type=float, default=139.0)
    parser.add_argument("--cross-section-pb", type=float, default=38.8)
    args = parser.parse_args(argv)
    try:
        make_plots(args.results, args.mtt_max)
        text = markdown(args.results, args.mtt_max, args.luminosity_fb, args.cross_section_pb)
    except (EvenetError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    write_text(args.results / "summary.md", text)
    print(f"[qe] wrote {args.results / 'summary.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
