"""summary.md and the plots of the haa analysis, from the cutflow, the dataset manifest and the
evaluation (metrics.csv, limits.csv, curves.json), beside the published numbers.

    python -m analyses.haa.summary --cutflow C --manifest M --metrics M --limits L \
        --curves C --settings JSON --summary summary.md --plots DIR
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

from analyses.haa import plots, references
from analyses.haa.pilot import pilot_rows, plan
from evenet.io.results import write_text


def _number(value, digits=3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—" if value is None or math.isnan(value) else "∞"
    return f"{value:.{digits}g}"


def _with_error(row, name, digits=3) -> str:
    value, err = row.get(name), row.get(f"{name}_err")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        neff = row.get(f"{name}_neff")
        return "—" if neff is None or math.isnan(neff) else f"— (N_eff {neff:.1f})"
    return f"{_number(value, digits)} ± {_number(err, 2)}"


def pilot_section(manifest: dict, cutflow: list[dict], settings: dict) -> list[str]:
    rows = pilot_rows(manifest, cutflow)
    lines = [
        "## Samples and the background's statistics",
        "",
        "Generated: events Pythia produced (before the B-hadron filter of the QCD slices); "
        "written: events kept; σ: the sample's cross section as generated (QCD: Pythia's LO σ "
        "of the slice × filter efficiency; signal: Pythia's σ(gg→H) × BR 10%, not used for "
        "the limits); selected σ = σ × Σw_selected / Σw; N_eff = (Σw)²/Σw² of the selected "
        "events.",
        "",
        "| sample | generated | written | σ [pb] | selected | Σw selected | N_eff | "
        "selected σ [pb] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sample']} | {r['generated'] or '—'} | {r['written']} | "
            f"{_number(r['xsec_pb'], 4)} | {r['selected']} | {_number(r['selected_sum_w'], 4)} | "
            f"{r['selected_n_eff']:.1f} | {_number(r['selected_xsec_pb'], 3)} |"
        )
    target = float(settings["plan_max_rejection"]) * float(settings["min_neff"])
    largest = float(settings.get("largest_size") or 0)
    background_share = 1.0 - float(settings.get("signal_share") or 0.0)
    planned = plan(
        rows,
        target,
        float(settings["test_fraction"]),
        float(settings["train_fraction"]),
        background_share * largest,
    )
    lines += [
        "",
        f"Events to generate per background slice so that the test split's selected background "
        f"has N_eff ≥ {settings['min_neff']:g} × {settings['plan_max_rejection']:g} = "
        f"{target:g} (enough to quote 1/ε_B up to {settings['plan_max_rejection']:g} with "
        f"N_eff ≥ {settings['min_neff']:g} behind it; test fraction "
        f"{settings['test_fraction']:g}), the fewest events in total (N_s ∝ σ_s √ε_s, "
        "analyses/haa/pilot.py), and so that the train split holds the "
        f"{background_share * largest:.3g} selected background events of the largest "
        f"training size ({largest:.3g} events, {1 - background_share:.0%} signal), from this "
        "pilot:",
        "",
        "| slice | selected fraction of generated | events to generate | set by |",
        "|---|---|---|---|",
    ]
    for name, p in planned.items():
        note = " (< 3/N: no pilot event selected, 95% CL bound)" if p["upper_limit"] else ""
        lines.append(
            f"| {name} | {p['efficiency']:.3g}{note} | {p['events']:.3g} | {p['limited_by']} |"
        )
    total = sum(p["events"] for p in planned.values())
    lines += ["", f"In total {total:.3g} QCD events to generate.", ""]
    return lines + [""]


def status_section(statuses: list[dict]) -> list[str]:
    """Methods that did not run (SPANet without its environment, or failing), with why."""
    missing = [s for s in statuses if s.get("status") != "ok"]
    if not missing:
        return []
    lines = ["## Methods without results", ""]
    for s in missing:
        lines.append(
            f"- {s['method']} (size {s['size']}, seed {s['seed']}): **{s['status']}** — "
            f"{s.get('reason') or 'no reason recorded'}"
        )
    return lines + [""]


def metrics_section(metrics: pd.DataFrame) -> list[str]:
    lines = [
        "## Classification and pairing (test split, weighted by expected yield)",
        "",
        "1/ε_B at ε_S = 10/25/50% is shown only where the background passing that cut has "
        "N_eff ≥ 25 (else its N_eff). Errors: standard deviation of bootstrap resamples of the "
        "test events. Purity: SPANet's evaluator definitions (event purity among signal "
        "events with ≥ 1 reconstructable a; 1a/2a categories; XGBoost: the |m12 − m34| "
        "pairing of its features).",
        "",
        "| m_a | method | size | seed | AUC | 1/ε_B @10% | 1/ε_B @25% | 1/ε_B @50% | max SIC | "
        "event purity | 1a / 2a (fraction) | particle purity | N_eff bkg | params |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ordered = metrics.assign(_s=metrics["size"].map(plots.size_value)).sort_values(
        ["m_a", "method", "_s", "seed"]
    )
    for _, row in ordered.iterrows():
        r = row.to_dict()
        categories = (
            f"{_number(r['purity_1a'], 2)} / {_number(r['purity_2a'], 2)} "
            f"({_number(r['fraction_1a'], 2)} / {_number(r['fraction_2a'], 2)})"
        )
        lines.append(
            f"| {r['m_a']:g} | {r['method']} | {r['size']} | {r['seed']} | "
            f"{_with_error(r, 'auc')} | {_with_error(r, 'rej10')} | {_with_error(r, 'rej25')} | "
            f"{_with_error(r, 'rej50')} | {_with_error(r, 'max_sic')} | "
            f"{_number(r['event_purity'], 3)} | {categories} | "
            f"{_number(r['particle_purity'], 3)} | {r['n_eff_background']:.1f} | "
            f"{_number(r['n_params'], 6) if pd.notna(r['n_params']) else '—'} |"
        )
    return lines + [""]


def limits_section(limits: pd.DataFrame, settings: dict) -> list[str]:
    lines = [
        "## Expected limits on BR(H → aa → bb̄bb̄)",
        "",
        f"pyhf, asymptotic CLs, 95% CL; {settings['bins']} equal score bins merged from the high "
        "end until every bin has background with relative MC error < "
        f"{settings['max_rel_error']:g}; σ(gg→H) = {settings['sigma_ggh_pb']:g} pb "
        f"(JHEP05(2016)058), L = {settings['luminosity_fb']:g} fb⁻¹; QCD normalisation "
        f"± {settings['norm_uncertainty']:.0%} (normsys) and MC statistics (staterror); "
        "Asimov background-only data. A band edge at the POI bound "
        f'({settings["bound"]:g}) means "> bound".',
        "",
        "| m_a | method | size | seed | −2σ | −1σ | median | +1σ | +2σ | bins (score edges) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in limits.iterrows():
        values = [_number(r.get(k), 3) for k in ("minus2", "minus1", "median", "plus1", "plus2")]
        lines.append(
            f"| {r['m_a']:g} | {r['method']} | {r['size']} | {r['seed']} | "
            + " | ".join(values)
            + f" | {r['bin_edges']} |"
        )
    return lines + [""]


def references_section() -> list[str]:
    sizes = " / ".join(references.SIZES)
    lines = [f"## Published ({references.SOURCE})", "", f"1/ε_B at ε_S = 25%, {sizes}:", ""]
    lines += [
        f"- {k}: {' / '.join(f'{v:g}' for v in vs)}" for k, vs in references.REJECTION_25.items()
    ]
    lines += ["", "Event pairing purity, 10k → 1M:", ""]
    lines += [f"- {k}: {a:g} → {b:g}" for k, (a, b) in references.PAIRING_PURITY.items()]
    lines += ["", "Expected limit (median BR), 10k → 1M, without MC statistical errors:", ""]
    lines += [f"- {k}: {a:g} → {b:g}" for k, (a, b) in references.LIMIT_MEDIAN.items()]
    return lines + [""]


CAVEATS = [
    "## What these numbers are, and are not",
    "",
    "- The QCD background is hard bb̄ flavour creation only (gg/qq̄ → bb̄ in pTHat slices): "
    "flavour excitation and gluon splitting from light hard processes are not generated, "
    "and c/light jets enter only through the detector's mistag rates within these events. "
    "The background is therefore too small and the limits are optimistic.",
    "- The published limits disable MC statistical uncertainties; ours keep them.",
    "- Signal: Pythia 8 LO gg → H with the a width at 10 MeV; σ(gg→H) for the limits is the "
    "N3LO value, not Pythia's.",
    "",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The haa summary and plots.")
    for name in ("cutflow", "manifest", "metrics", "limits", "curves"):
        parser.add_argument(f"--{name}", required=True, type=Path)
    parser.add_argument("--settings", required=True, help="JSON: analysis settings")
    parser.add_argument("--summary", required=True, type=Path)
    parser.add_argument("--plots", required=True, type=Path)
    args = parser.parse_args(argv)
    settings = json.loads(args.settings)
    cutflow = pd.read_csv(args.cutflow).to_dict("records")
    manifest = json.loads(args.manifest.read_text())
    metrics = pd.read_csv(args.metrics)
    limits = pd.read_csv(args.limits)
    evaluation = json.loads(args.curves.read_text())
    curves = evaluation["curves"]
    masses = sorted({float(m) for m in settings["masses"].values()})
    args.plots.mkdir(parents=True, exist_ok=True)
    plots.roc(curves, masses, args.plots / "roc")
    for column, label, name, log in (
        ("rej25", r"$1/\varepsilon_B$ at $\varepsilon_S$ = 25%", "rejection25_vs_size", True),
        ("event_purity", "a → bb event purity", "purity_vs_size", False),
    ):
        if metrics.empty:
            plots.empty(args.plots / name, "no method was evaluated")
        else:
            plots.versus_size(metrics, column, label, args.plots / name, log=log)
    plots.scores(curves, masses, args.plots / "scores")
    plots.brazil(limits, args.plots / "limits_vs_ma")
    lines = [
        "# haa: H → aa → bb̄bb̄",
        "",
        "Selection: ≥ 3 b-tagged jets, ≥ 4 jets with the 4th above 30 GeV, 2nd b-jet above "
        "30 GeV (cutflow.csv). One classifier per method for all mass points (signal = "
        "m_a 30 + 40 + 60 against the QCD slices), trained on identical selected events with "
        "10% signal and class-balanced, cross-section-weighted training weights; evaluated per "
        "m_a on the selected test events. Plots in plots/.",
        "",
    ]
    lines += pilot_section(manifest, cutflow, settings)
    lines += status_section(evaluation.get("methods", []))
    lines += metrics_section(metrics) if not metrics.empty else ["No metrics.", ""]
    lines += limits_section(limits, settings) if not limits.empty else ["No limits.", ""]
    lines += references_section() + CAVEATS
    write_text(args.summary, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
