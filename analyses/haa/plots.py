"""Plots of the haa analysis (mplhep style; PNG + PDF via evenet.io.results.save_figure):
ROC per m_a, 1/ε_B at ε_S = 25% and pairing purity against training size, weighted score
distributions, and the expected-limit (Brazil) plot against m_a."""

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
    "evenet_pretrained": "EveNet pretrained",
    "evenet_scratch": "EveNet scratch",
    "xgboost": "XGBoost",
    "spanet": "SPANet",
}


def size_value(size) -> float:
    return np.inf if str(size) == "all" else float(size)


def _label(method: str) -> str:
    return LABEL.get(method, method)


def _title(ax, text: str) -> None:
    ax.set_title(text, fontsize=13, loc="left")


def _nothing(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=12)


def empty(stem: Path, text: str) -> None:
    """A figure that says why there is nothing to draw (the rule's outputs always exist)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    _nothing(ax, text)
    ax.set_axis_off()
    save_figure(fig, stem)


def roc(curves: list[dict], masses: list[float], stem: Path) -> None:
    """1/ε_B against ε_S, one panel per m_a, every (method, size, seed)."""
    fig, axes = plt.subplots(1, len(masses), figsize=(6.2 * len(masses), 5.8), squeeze=False)
    for ax, m_a in zip(axes[0], masses, strict=True):
        mine = [c for c in curves if float(c["m_a"]) == float(m_a)]
        for c in sorted(mine, key=lambda c: (c["method"], size_value(c["size"]), c["seed"])):
            eps_s, eps_b = np.array(c["eps_s"]), np.array(c["eps_b"])
            keep = eps_b > 0
            ax.plot(
                eps_s[keep],
                1.0 / eps_b[keep],
                label=f"{_label(c['method'])}, {c['size']}, seed {c['seed']}",
            )
        if not mine:
            _nothing(ax, "no test signal")
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_xlabel(r"signal efficiency $\varepsilon_S$")
        ax.set_ylabel(r"background rejection $1/\varepsilon_B$")
        ax.legend(fontsize=9)
        _title(ax, f"$m_a$ = {m_a:g} GeV (test split, weighted)")
    save_figure(fig, stem)


def versus_size(metrics: pd.DataFrame, column: str, ylabel: str, stem: Path, log=False) -> None:
    """A metric against training size per method (mean over seeds, band: seed spread, bars:
    mean bootstrap error), one panel per m_a."""
    masses = sorted(metrics["m_a"].unique())
    fig, axes = plt.subplots(1, len(masses), figsize=(6.2 * len(masses), 5.5), squeeze=False)
    sizes = sorted(metrics["size"].astype(str).unique(), key=size_value)
    x_of = {s: k for k, s in enumerate(sizes)}
    error_column = f"{column}_err"
    for ax, m_a in zip(axes[0], masses, strict=True):
        rows = metrics[(metrics["m_a"] == m_a) & metrics[column].notna()]
        if rows.empty:  # e.g. 1/eps_B hidden everywhere for lack of background statistics
            _nothing(ax, f"no {column} with enough test events")
            _title(ax, f"$m_a$ = {m_a:g} GeV")
            continue
        for method, group in rows.groupby("method"):
            stats = group.groupby(group["size"].astype(str))
            mean = stats[column].mean()
            spread = stats[column].std(ddof=1).fillna(0.0)
            err = stats[error_column].mean() if error_column in group else 0.0 * mean
            order = sorted(mean.index, key=size_value)
            x = np.array([x_of[s] for s in order])
            y = mean[order].to_numpy(float)
            ax.errorbar(x, y, yerr=np.asarray(err[order], float), fmt="o-", label=_label(method))
            band = spread[order].to_numpy(float)
            ax.fill_between(x, y - band, y + band, alpha=0.2)
        ax.set_xticks(range(len(sizes)), sizes)
        ax.set_xlabel("training events (selected, 10% signal)")
        ax.set_ylabel(ylabel)
        if log and (rows[column] > 0).any():
            ax.set_yscale("log")
        ax.legend()
        _title(ax, f"$m_a$ = {m_a:g} GeV")
    save_figure(fig, stem)


def scores(curves: list[dict], masses: list[float], stem: Path) -> None:
    """Normalised weighted score distributions of signal (per m_a) and background, for each
    method at its largest size (first seed)."""
    methods = sorted({c["method"] for c in curves})
    fig, axes = plt.subplots(1, max(1, len(methods)), figsize=(6 * max(1, len(methods)), 5.5))
    axes = np.atleast_1d(axes)
    if not methods:
        _nothing(axes[0], "no method evaluated")
    for ax, method in zip(axes, methods, strict=False):
        mine = [c for c in curves if c["method"] == method]
        largest = max(size_value(c["size"]) for c in mine)
        mine = [c for c in mine if size_value(c["size"]) == largest]
        seed = min(str(c["seed"]) for c in mine)
        mine = [c for c in mine if str(c["seed"]) == seed]
        for c in mine:
            edges = np.array(c["edges"])
            signal = np.array(c["signal"], float)
            if signal.sum() > 0:
                hep.histplot(signal / signal.sum(), edges, ax=ax, label=f"$m_a$ = {c['m_a']:g}")
        background = np.array(mine[0]["background"], float)
        if background.sum() > 0:
            hep.histplot(
                background / background.sum(), edges, ax=ax, label="QCD", color="black", ls="--"
            )
        ax.set_yscale("log")
        ax.set_xlabel("signal score")
        ax.set_ylabel("fraction of expected events")
        ax.legend()
        _title(ax, f"{_label(method)}, {mine[0]['size']}, seed {seed}")
    save_figure(fig, stem)


def brazil(limits: pd.DataFrame, stem: Path) -> None:
    """Expected 95% CL limit on BR(H → aa → 4b) against m_a, per method at its largest size
    (first seed), with the ±1σ, ±2σ bands."""
    usable = limits.dropna(subset=["median"])
    methods = sorted(usable["method"].unique())
    fig, axes = plt.subplots(1, max(1, len(methods)), figsize=(6 * max(1, len(methods)), 5.5))
    axes = np.atleast_1d(axes)
    if not methods:
        _nothing(axes[0], "no limit could be set")
    for ax, method in zip(axes, methods, strict=False):
        rows = usable[usable["method"] == method]
        largest = max(rows["size"].astype(str), key=size_value)
        rows = rows[rows["size"].astype(str) == largest]
        rows = rows[rows["seed"].astype(str) == min(rows["seed"].astype(str))].sort_values("m_a")
        m = rows["m_a"].to_numpy(float)
        ax.fill_between(m, rows["minus2"], rows["plus2"], color="#F5BB54", label=r"$\pm2\sigma$")
        ax.fill_between(m, rows["minus1"], rows["plus1"], color="#607641", label=r"$\pm1\sigma$")
        ax.plot(m, rows["median"], "k--", marker="o", label="expected (median)")
        ax.set_yscale("log")
        ax.set_xlabel(r"$m_a$ [GeV]")
        ax.set_ylabel(r"95% CL limit on BR($H\to aa\to b\bar b b\bar b$)")
        ax.legend()
        _title(ax, f"{_label(method)}, {largest}; 139 fb$^{{-1}}$")
    save_figure(fig, stem)
