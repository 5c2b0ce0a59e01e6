"""Generated vs real dimuons given m_mumu: the check issue 16's closing note reports.

    python bench/generation_check.py --dataset DATASET --checkpoint MODEL --output DIR \
        --window 9 10.6 [--oversample 1] [--seed 1] [--steps 25]

Takes the test-split events of DATASET with two opposite-sign leading leptons whose mass lies
in the window, writes their m_mumu as the condition file, generates events with `evenet
sample`, and writes to DIR: `conditions.parquet`, `generated.parquet`, `comparison.png/.pdf`
(dimuon pT, Delta R and each muon's ip3d, generated vs real, in two m_mumu bins of the
window, normalised shapes with Poisson errors; values beyond an axis fill its first or last
bin) and `summary.json` (the quality-selection
efficiency: the share of generated events with two opposite-sign muons of pT > 17 / 8 GeV
and |eta| < 2.4 whose recomputed mass lies in the window, and the mass resolution).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import hist  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import mplhep as hep  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from analyses.anomaly.quality import MuonCuts, passes  # noqa: E402
from evenet.io.columns import to_numpy  # noqa: E402
from evenet.io.predictions import load  # noqa: E402
from evenet.io.results import save_figure  # noqa: E402
from evenet.sampling.sample import sample_events  # noqa: E402


def dimuons(table: pa.Table) -> dict[str, np.ndarray]:
    """Per event: the two leading muons' ip3d and the dimuon mass, pT and Delta R."""
    dilepton = to_numpy(table.column("globals_extra"))
    return {
        "ip3d": to_numpy(table.column("x_extra"))[:, :2, 1],
        "mass": dilepton[:, 0],
        "pt_ll": dilepton[:, 1],
        "dr_ll": dilepton[:, 2],
    }


def _panel(ax, name, label, edges, real, fake, weight_fake):
    axis = hist.axis.Variable(edges, name=name, label=label)
    for values, weights, style in (
        (real, None, {"label": "real", "histtype": "fill", "alpha": 0.35}),
        (fake, weight_fake, {"label": "generated", "histtype": "errorbar"}),
    ):
        h = hist.Hist(axis, storage=hist.storage.Weight())
        h.fill(np.clip(values, edges[0], edges[-1] - 1e-9), weight=weights)
        total = h.sum().value
        if total > 0:
            hep.histplot(h / total, ax=ax, density=False, **style)
    ax.set_xlabel(label)
    ax.set_ylabel("fraction of events")
    if name.startswith("ip3d"):
        ax.set_xscale("log")
    ax.legend(fontsize=12)


def plot(real: dict, fake: dict, window, output: Path) -> None:
    plt.style.use(hep.style.CMS)
    plt.rcParams.update({"axes.labelsize": 17, "xtick.labelsize": 14, "ytick.labelsize": 14})
    middle = 0.5 * (window[0] + window[1])
    bins = [(window[0], middle), (middle, window[1])]
    variables = [
        ("pt_ll", r"dimuon $p_T$ [GeV]", np.linspace(0, 120, 25)),
        ("dr_ll", r"$\Delta R_{\mu\mu}$", np.linspace(0, 4, 21)),
        ("ip3d0", "leading-muon ip3d [cm]", np.logspace(-4, 0, 21)),
        ("ip3d1", "subleading-muon ip3d [cm]", np.logspace(-4, 0, 21)),
    ]
    if not np.any(real["ip3d"]):  # the source has no impact parameter (Ymumu.csv)
        variables = variables[:2]
    figure, axes = plt.subplots(2, len(variables), figsize=(7 * len(variables), 12))
    for row, (lo, hi) in enumerate(bins):
        # the generated events carry their condition's mass: bin them by it
        real_in = (real["mass"] >= lo) & (real["mass"] < hi)
        fake_in = (fake["condition"] >= lo) & (fake["condition"] < hi)
        for col, (name, label, edges) in enumerate(variables):
            ax = axes[row, col]
            if name.startswith("ip3d"):
                k = int(name[-1])
                r, f = real["ip3d"][real_in, k], fake["ip3d"][fake_in, k]
            else:
                r, f = real[name][real_in], fake[name][fake_in]
            _panel(ax, name, label, edges, r, f, None)
            ax.set_title(rf"${lo:.2f} < m_{{\mu\mu}} < {hi:.2f}$ GeV (condition)", fontsize=14)
    save_figure(figure, output / "comparison")
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--window", type=float, nargs=2, required=True, metavar=("LO", "HI"))
    parser.add_argument("--oversample", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    table = load(None, args.dataset, ["x", "x_mask", "x_extra", "globals_extra"], splits=["test"])
    # the real events: opposite-sign lepton pairs in the window, no pT cut (they condition)
    everything = MuonCuts(lead_pt_gev=-1.0, sub_pt_gev=-1.0, max_abs_eta=np.inf)
    chosen = passes(table, tuple(args.window), everything)
    real = {k: v[chosen] for k, v in dimuons(table).items()}
    real_pass = passes(table.filter(pa.array(chosen)), (-np.inf, np.inf))
    conditions = output / "conditions.parquet"
    pq.write_table(pa.table({"M_ll": real["mass"]}), conditions)
    summary = sample_events(
        args.checkpoint,
        conditions,
        output / "generated.parquet",
        seed=args.seed,
        steps=args.steps,
        oversample=args.oversample,
        log=lambda line: print(line, file=sys.stderr),  # stdout holds the JSON result
    )
    generated = pq.read_table(output / "generated.parquet")
    fake = dimuons(generated)
    fake["condition"] = np.repeat(real["mass"], args.oversample)
    in_window = (fake["mass"] > args.window[0]) & (fake["mass"] < args.window[1])
    quality = passes(generated, (-np.inf, np.inf))  # the dimuon cuts, any mass
    deviation = fake["mass"] - fake["condition"]
    result = {
        "dataset": args.dataset,
        "checkpoint": args.checkpoint,
        "window_gev": list(args.window),
        "real_events": int(chosen.sum()),
        "generated_events": int(len(deviation)),
        "real_pass_cuts": float(real_pass.mean()),
        "generated_pass_cuts": float(quality.mean()),
        "generated_in_window": float(in_window.mean()),
        "quality_selection_efficiency": float((quality & in_window).mean()),
        "mass_median_abs_deviation_gev": float(np.median(np.abs(deviation))),
        "mass_deviation_iqr_gev": [float(q) for q in np.percentile(deviation, [25, 75])],
        "sample": summary,
        "cuts": dataclasses.asdict(MuonCuts()),
    }
    (output / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(real, fake, args.window, output)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
