"""Plots of the anomaly analysis (mplhep style; PNG + PDF via evenet.io.results.save_figure):
Z against the FPR cut per method (median and 16/84% band over seeds x bootstrap resamples),
spectra with fits at a few cuts, generated against real feature distributions, and the
injection curve (Z and fitted S against the injected S)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mplhep as hep  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from evenet.io.results import save_figure  # noqa: E402

plt.style.use(hep.style.CMS)
plt.rcParams.update(
    {"axes.labelsize": 17, "xtick.labelsize": 14, "ytick.labelsize": 14, "legend.fontsize": 11}
)
LABEL = {
    "pretrained": "EveNet pretrained",
    "scratch": "EveNet scratch",
    "flow": "CATHODE flow",
    "random": "random cut",
    "mass_only": "mass only",
}
FEATURE_LABEL = {
    "mass": r"$m_{\mu\mu}$ [GeV]",
    "dimuon_pt": r"$p_T^{\mu\mu}$ [GeV]",
    "mu0_ip3d": r"leading muon ip3d [cm]",
    "mu1_ip3d": r"subleading muon ip3d [cm]",
}


def label(method: str) -> str:
    return LABEL.get(method, method)


def bands(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Median and 16/84% quantiles of Z over seeds x bootstrap resamples, NaN fits left out."""
    grouped = frame.dropna(subset=["Z"]).groupby(by)["Z"]
    return pd.DataFrame(
        {"median": grouped.median(), "lo": grouped.quantile(0.16), "hi": grouped.quantile(0.84)}
    ).reset_index()


def plot_z_vs_fpr(cut_rows, rew_rows, path, title: str = "") -> None:
    figure, ax = plt.subplots(figsize=(9, 7))
    cuts = pd.DataFrame(cut_rows)
    reweighted = pd.DataFrame(rew_rows)
    if cuts.empty:
        ax.text(0.5, 0.5, "no fits (too few sideband events)", ha="center", transform=ax.transAxes)
    else:
        summary = bands(cuts, ["method", "sign", "fpr"])
        rew = bands(reweighted, ["method", "sign"]).set_index(["method", "sign"])
        for i, ((method, sign), rows) in enumerate(summary.groupby(["method", "sign"])):
            color = "grey" if method == "random" else f"C{i % 10}"
            style = "-" if sign == "OS" else "--"
            z_rew = rew["median"].get((method, sign), np.nan)
            text = "" if np.isnan(z_rew) else f"; reweighted Z = {z_rew:.2f}"
            ax.plot(
                rows["fpr"], rows["median"], style, color=color,
                label=f"{label(method)} ({sign}){text}",
            )  # fmt: skip
            ax.fill_between(rows["fpr"], rows["lo"], rows["hi"], color=color, alpha=0.15)
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.legend()
    ax.set_xlabel("false-positive rate of the cut (sideband data)")
    ax.set_ylabel(r"significance $Z$ [$\sigma$]")
    ax.set_title(title, fontsize=14)
    save_figure(figure, Path(path).with_suffix(""))


def placeholder(path, reason: str) -> None:
    """A figure saying why there is nothing to show (a CI-scale run)."""
    figure, ax = plt.subplots(figsize=(8, 4))
    ax.text(0.5, 0.5, reason, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_axis_off()
    save_figure(figure, Path(path).with_suffix(""))


def plot_cut_spectra(mass, score, window, path, title: str = "", fprs=(1.0, 0.1, 0.01)) -> None:
    from evenet.errors import EvenetError
    from evenet.stats.bumphunt import bump_hunt
    from evenet.stats.bumphunt_plot import draw_bump_hunt
    from evenet.stats.weak_supervision import fpr_cut, in_sidebands

    figure, axes = plt.subplots(1, len(fprs), figsize=(8 * len(fprs), 7))
    sideband = in_sidebands(mass, window["sr"], window["sb"])
    for ax, fpr in zip(np.atleast_1d(axes), fprs, strict=True):
        passing = score >= fpr_cut(score[sideband], fpr)
        try:
            result = bump_hunt(mass[passing], **window)
        except EvenetError as error:
            ax.text(0.5, 0.5, str(error), ha="center", transform=ax.transAxes, wrap=True)
            continue
        draw_bump_hunt(ax, mass[passing], None, result, f"{title}, FPR {fpr:g}", fontsize=12)
    save_figure(figure, Path(path).with_suffix(""))


def plot_features(real: dict, generated: dict[str, dict], path, title: str = "") -> None:
    """Normalised histograms of each feature: real (points) against each model (lines)."""
    names = list(real)
    figure, axes = plt.subplots(1, len(names), figsize=(6.5 * len(names), 6))
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        values = real[name]
        edges = np.quantile(values, np.linspace(0, 0.99, 31))
        edges = np.unique(edges)
        counts, _ = np.histogram(values, edges, density=True)
        hep.histplot(counts, edges, histtype="errorbar", color="black", label="real", ax=ax)
        for i, (model, features) in enumerate(generated.items()):
            counts, _ = np.histogram(features[name], edges, density=True)
            hep.histplot(counts, edges, color=f"C{i % 10}", label=model, ax=ax)
        ax.set_xlabel(FEATURE_LABEL.get(name, name))
        ax.set_ylabel("density")
        ax.set_yscale("log")
    np.atleast_1d(axes)[0].legend(fontsize=10)
    figure.suptitle(title, fontsize=14)
    save_figure(figure, Path(path).with_suffix(""))


def plot_injection(frame: pd.DataFrame, path) -> None:
    """``frame``: per (method, injected S) the median reweighted Z with 16/84% bands, and the
    mass-only rows (method mass_only) with the fitted S of the uncut fit."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(16, 7))
    for i, (method, rows) in enumerate(frame.groupby("method")):
        rows = rows.sort_values("injected_s")
        color = "grey" if method in ("random", "mass_only") else f"C{i % 10}"
        left.errorbar(
            rows["injected_s"],
            rows["Z_median"],
            yerr=[rows["Z_median"] - rows["Z_lo"], rows["Z_hi"] - rows["Z_median"]],
            marker="o",
            color=color,
            label=label(method),
            capsize=3,
        )
    mass_only = frame[frame["method"] == "mass_only"].sort_values("injected_s")
    right.errorbar(
        mass_only["injected_s"], mass_only["S_median"], marker="o", color="black",
        label="mass-only fit",
    )  # fmt: skip
    top = max(float(frame["injected_s"].max()), 1.0)
    right.plot([0, top], [0, top], ":", color="grey", label="fitted = injected")
    left.set_ylabel(r"significance $Z$ [$\sigma$] (reweighted; mass only)")
    right.set_ylabel("fitted S in the SR (uncut sideband fit)")
    for ax in (left, right):
        ax.set_xlabel("injected signal events in the SR")
        ax.legend()
    save_figure(figure, Path(path).with_suffix(""))
