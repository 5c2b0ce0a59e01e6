"""rule anomaly_summary: summary.md of the weakly supervised bump hunt (per search: the
mass-only Z, each method's reweighted Z and its cut-and-count maximum, with 16/84% bands over
seeds x bootstrap resamples; the injection curve; the same-sign control; generation quality;
the published numbers beside ours).

    python -m analyses.anomaly.summary --plan JSON --searches JSON --quality CSV \
        --settings JSON --summary MD --injection PNG
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.anomaly.plots import bands, label, plot_injection
from analyses.anomaly.stage_cli import run_stage
from evenet.io.results import write_text

PUBLISHED = [
    "## Published (arXiv:2502.14036 and EveNet's result files; PHYSICS.md §5)",
    "",
    "CMS 2016H, 12,332 OS events in 5–16 GeV (1,692 in the SR), degree-5 fit:",
    "",
    "- mass only: 1.60σ; same-sign control 0.53σ",
    "- CATHODE (flow + XGBoost): 6.39σ reweighted; cut-and-count 5.13σ at FPR 0.1, scan "
    "maximum 5.74σ at FPR 0.075; SS control ≈ 1σ with the OS-trained classifier",
    "- EveNet pretrained: 7.61σ calibrated / 6.35σ uncalibrated; scratch 6.93σ uncalibrated "
    "(±0.4σ bootstrap spread); quality-selection efficiency 9.4% pretrained, 1.8% scratch",
    "",
]


def _band(values: pd.Series) -> tuple[float, float, float]:
    values = values.dropna()
    if values.empty:
        return (np.nan, np.nan, np.nan)
    lo, mid, hi = np.quantile(values, [0.16, 0.5, 0.84])
    return float(mid), float(lo), float(hi)


def _fmt(band: tuple[float, float, float]) -> str:
    mid, lo, hi = band
    if np.isnan(mid):
        return "–"
    return f"{mid:.2f} [{lo:.2f}, {hi:.2f}]"


def search_rows(name: str, entry: dict, cut: pd.DataFrame, rew: pd.DataFrame) -> list[dict]:
    """One row per (method, sign): reweighted Z, the cut-and-count maximum over FPR (of the
    median curve) and its FPR, from the data and bootstrap resamples of every seed."""
    rows = []
    for (method, sign), group in rew.groupby(["method", "sign"]):
        curve = bands(cut[(cut["method"] == method) & (cut["sign"] == sign)], ["fpr"])
        best = curve.loc[curve["median"].idxmax()] if not curve.empty else None
        rows.append(
            {
                "search": name,
                "injected_s": entry.get("signal_sr"),
                "method": method,
                "sign": sign,
                "seeds": group["seed"].nunique(),
                "reweighted": _band(group["Z"]),
                "reweighted_data": _band(group[group["bootstrap"] == 0]["Z"]),
                "cut_max": None if best is None else (best["median"], best["lo"], best["hi"]),
                "cut_max_fpr": None if best is None else float(best["fpr"]),
            }
        )
    return rows


def calibration_section(plan: dict, tables: dict) -> list[str]:
    """At zero injection every excess is false: per method, the maximum over the FPR scan of
    each (seed, resample)'s cut-and-count Z, and how often it passes 2 and 3 sigma."""
    names = [n for n, e in plan["injections"].items() if e.get("signal_sr") == 0]
    if not names:
        return []
    cut, _ = tables[names[0]]
    cut = cut[cut["sign"] == "OS"].dropna(subset=["Z"])
    if cut.empty:
        return []
    peaks = cut.groupby(["method", "seed", "bootstrap"])["Z"].max().reset_index()
    lines = [
        f"## Calibration: no signal injected ({names[0]})",
        "",
        "Every excess here is false. Per (seed, resample) the largest cut-and-count Z of the "
        "FPR scan (a look-elsewhere over the scan is included); the random-score line is the "
        "reference. The reweighted fit has nothing to test here: the uncut fit's S ≤ 0 gives "
        "μ ≤ 0 and Z = 0 by construction.",
        "",
        "| method | trials | median max Z | 84% max Z | P(max Z > 2) | P(max Z > 3) |",
        "|---|---|---|---|---|---|",
    ]
    for method, group in peaks.groupby("method"):
        z = group["Z"]
        lines.append(
            f"| {label(method)} | {len(z)} | {z.median():.2f} | {z.quantile(0.84):.2f} | "
            f"{(z > 2).mean():.2f} | {(z > 3).mean():.2f} |"
        )
    return lines + [""]


def records_section(records: list[dict], cap: int) -> list[str]:
    """The SR quality-selection efficiency and, on simulation, the classifier's truth AUC
    (injected signal vs background among SR data) per search, method and seed."""
    if not records:
        return []
    frame = pd.DataFrame(records)
    lines = [
        "## Classifier inputs (per search)",
        "",
        "SR samples: the background model's samples kept by the quality selection (EveNet: "
        "generated muons passing the cuts with the recomputed m_μμ in the SR), capped at "
        f"{cap} per SR data event. ROC check: SR data against the samples, every event "
        "scored out of fold (0.5: the samples describe the SR data). Truth AUC: signal "
        "against background among the SR data (simulation only; 0.5 = blind).",
        "",
        "| search | method | seed | generated | passing | efficiency | used | SR data vs "
        "samples AUC | truth AUC |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in frame.sort_values(["search", "method", "seed"]).iterrows():
        auc = r.get("truth_auc_sr")
        auc = "–" if auc is None or pd.isna(auc) else f"{auc:.3f}"
        check = r.get("sr_vs_samples_auc")
        check = "–" if check is None or pd.isna(check) else f"{check:.3f}"
        if r.get("status") == "insufficient_events":
            check = auc = "too few events"
        lines.append(
            f"| {r['search']} | {label(r['method'])} | {r['seed']} | {r['generated']} | "
            f"{r['passing']} | {r['efficiency']:.3f} | {r['samples']} | {check} | {auc} |"
        )
    return lines + [""]


def render(
    plan, tables, quality: pd.DataFrame, settings: dict, records: list[dict] = ()
) -> tuple[str, pd.DataFrame]:
    lines = ["# Dimuon bump hunt (analysis `anomaly`)", ""]
    w = settings["window"]
    lines += [
        f"Dataset `{settings['dataset']}`; SR {w['sr'][0]}–{w['sr'][1]} GeV, sidebands "
        f"{w['sb'][0]}–{w['sb'][1]} GeV, {w['sr_edges']} SR edges, degree-{w['degree']} "
        "background. Exact maximum-likelihood fits (evenet.stats.bumphunt). Bands: 16/84% over "
        f"seeds × ({settings['bootstrap']} bootstrap resamples + the data); the value in the "
        "table is their median. Classifier: XGBoost, "
        f"{settings['classifier']['folds']} folds × {settings['classifier']['ensemble']} "
        "models per fold.",
        "",
    ]
    if plan.get("b_sr") is not None:
        lines += [
            "Simulation: background without Υ (generator truth) with the signal samples "
            f"{settings['signal_samples']} injected at S/√B_SR ∈ {settings['injections']} "
            f"(B_SR = {plan['b_sr']} OS background events in the SR; "
            f"{plan['signal_available_sr']} signal events available there). The generators "
            f"fine-tune on the {plan['sideband_events']} OS sideband events of the largest "
            f"injection ({plan['sideband_validation_events']} held out for validation).",
            "",
        ]
    injection_rows, table_rows = [], []
    lines += ["## Significance per search", ""]
    lines += [
        "| search | injected S (SR) | mass-only Z | fitted S / B | method | sign | reweighted Z "
        "| cut-and-count max Z (FPR) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in plan["injections"].items():
        cut, rew = tables[name]
        mo = entry["mass_only"]
        injection_rows.append(
            {
                "method": "mass_only",
                "injected_s": entry.get("signal_sr") or 0,
                "Z_median": mo["significance"],
                "Z_lo": mo["significance"],
                "Z_hi": mo["significance"],
                "S_median": mo["s"],
            }  # fmt: skip
        )
        for row in search_rows(name, entry, cut, rew):
            table_rows.append(row)
            cut_text = "–"
            if row["cut_max"] is not None:
                cut_text = f"{_fmt(row['cut_max'])} ({row['cut_max_fpr']:.3g})"
            lines.append(
                f"| {name} | {entry.get('signal_sr', '–')} | {mo['significance']:.2f} | "
                f"{mo['s']:.0f} / {mo['b']:.0f} | {label(row['method'])} | {row['sign']} | "
                f"{_fmt(row['reweighted'])} | {cut_text} |"
            )
            if row["sign"] == "OS" and row["method"] != "random":
                mid, lo, hi = row["reweighted"]
                injection_rows.append(
                    {
                        "method": row["method"],
                        "injected_s": entry.get("signal_sr") or 0,
                        "Z_median": mid,
                        "Z_lo": lo,
                        "Z_hi": hi,
                        "S_median": np.nan,
                    }  # fmt: skip
                )
    lines += [""]
    signs = {row["sign"] for row in table_rows}
    if "SS" not in signs:
        lines += [
            "**Same-sign control:** no same-sign events with enough sidebands in this dataset "
            "(the local simulation's DY and Υ samples give opposite-sign pairs only), so the "
            "control is not run here; on CMS data it is the SS rows of the same tables.",
            "",
        ]
    lines += calibration_section(plan, tables)
    lines += records_section(list(records), settings["samples_per_sr_event"])
    lines += ["## Generation quality (held-out sideband events)", ""]
    lines += [
        "Real: the generator's validation sideband events (no model trained on them). "
        "`real_half` compares two halves of them: the metrics' floor at this size. AUC of "
        "a classifier separating real from generated (0.5 = indistinguishable), MMD² "
        "(Gaussian kernel, bandwidth the median distance of real events), coverage (≈ 0.63 "
        "for identical distributions in the large-sample limit); features dimuon pT, both "
        "ip3d and the recomputed mass.",
        "",
        "| method | seed | real / generated | quality efficiency | AUC | MMD² | coverage |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, q in quality.iterrows():
        lines.append(
            f"| {label(q['method'])} | {'–' if pd.isna(q['seed']) else q['seed']} | "
            f"{q['real_events']} / "
            f"{q['generated_events']} | {q['quality_efficiency']:.3f} | "
            f"{q['auc']:.3f} ± {q['auc_err']:.3f} | {q['mmd']:.4f} ± {q['mmd_err']:.4f} | "
            f"{q['coverage']:.3f} ± {q['coverage_err']:.3f} |"
        )
    lines += [""] + PUBLISHED
    return "\n".join(lines) + "\n", pd.DataFrame(injection_rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analyses.anomaly.summary")
    parser.add_argument("--plan", required=True)
    parser.add_argument("--searches", required=True, help="search -> [cut CSV, reweighted CSV]")
    parser.add_argument("--quality", required=True)
    parser.add_argument("--settings", required=True, help="the analysis settings (JSON)")
    parser.add_argument("--records", default="[]", help="anomaly_classify records (JSON list)")
    parser.add_argument("--summary", required=True)
    parser.add_argument("--injection", required=True)
    args = parser.parse_args(argv)

    def stage() -> None:
        plan = json.loads(Path(args.plan).read_text())
        tables = {
            name: (pd.read_csv(cut, dtype={"seed": str}), pd.read_csv(rew, dtype={"seed": str}))
            for name, (cut, rew) in json.loads(args.searches).items()
        }
        records = [
            {**json.loads(Path(path).read_text()), "seed": path.rsplit("_seed", 1)[1].split(".")[0]}
            for path in json.loads(args.records)
        ]
        text, injection = render(
            plan,
            tables,
            pd.read_csv(args.quality, dtype={"seed": str}),
            json.loads(args.settings),
            records,
        )
        plot_injection(injection, args.injection)
        write_text(args.summary, text)

    return run_stage("anomaly_summary", stage)


if __name__ == "__main__":
    sys.exit(main())
