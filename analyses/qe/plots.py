"""Plots of the qe analysis (mplhep style; PNG + PDF via evenet.io.results.save_figure)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mplhep as hep  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from evenet.io.results import save_figure  # noqa: E402
from evenet.physics.spin import AXES  # noqa: E402

plt.style.use(hep.style.CMS)
# The CMS style's 26-pt labels are sized for 10 x 10 in figures; ours are smaller.
plt.rcParams.update(
    {"axes.labelsize": 17, "xtick.labelsize": 14, "ytick.labelsize": 14, "legend.fontsize": 12}
)
LABEL = {"pretrained": "EveNet pretrained", "scratch": "EveNet scratch"}


def _title(ax, text: str) -> None:
    ax.set_title(text, fontsize=14, loc="left")


def _size_value(size: str) -> float:
    return np.inf if size == "all" else float(size)


def cos_phi(bins: pd.DataFrame, labels: list[tuple[str, pd.Series]], stem: Path, mtt_max):
    """cos φ in the threshold region: half B reco, unfolded and parton, each normalised."""
    fig, axes = plt.subplots(1, max(1, len(labels)), figsize=(6.5 * max(1, len(labels)), 6))
    axes = np.atleast_1d(axes)
    if not labels:
        _nothing(axes[0], "no reconstruction could be unfolded (summary.md says why)")
    for ax, (title, key) in zip(axes, labels, strict=False):
        rows = bins[
            (bins["observable"] == "cos_phi")
            & (bins["region"] == "low")
            & (bins[list(key.index)] == key.values).all(axis=1)
        ].sort_values("bin")
        if rows.empty:
            continue
        edges = np.append(rows["x_low"].to_numpy(), rows["x_high"].to_numpy()[-1])
        width = np.diff(edges)

        def density(values, width=width):
            values = np.asarray(values, dtype=float)
            return values / (values.sum() * width)

        unfolded = rows["unfolded"].to_numpy(dtype=float)
        hep.histplot(density(rows["reco_b"]), edges, ax=ax, label="reco (half B)", ls="--")
        hep.histplot(density(rows["parton_b"]), edges, ax=ax, label="parton (half B)")
        centres = 0.5 * (edges[1:] + edges[:-1])
        scale = unfolded.sum() * width
        ax.errorbar(
            centres,
            unfolded / scale,
            yerr=rows["unfolded_err"].to_numpy(dtype=float) / scale,
            fmt="o",
            color="black",
            label="unfolded (half B)",
        )
        ax.set_xlabel(r"$\cos\varphi$")
        ax.set_ylabel(r"$(1/N)\,dN/d\cos\varphi$")
        ax.legend(fontsize=11)
        _title(ax, f"{title}, $m_{{t\\bar t}}$ < {mtt_max:g} GeV")
    save_figure(fig, stem)


def spin_matrix(spin: pd.DataFrame, labels: list[tuple[str, dict]], stem: Path) -> None:
    """C (3 x 3) as a heat map with value ± error: parton (half B) and unfolded methods."""
    fig, axes = plt.subplots(1, len(labels), figsize=(5.2 * len(labels), 5))
    axes = np.atleast_1d(axes)
    for ax, (title, select) in zip(axes, labels, strict=True):
        rows = spin
        for key, value in select.items():
            rows = rows[rows[key].astype(str) == str(value)]
        values = np.full((3, 3), np.nan)
        errors = np.full((3, 3), np.nan)
        for i, a in enumerate(AXES):
            for j, b in enumerate(AXES):
                found = rows[rows["quantity"] == f"C_{a}{b}"]
                if len(found) and str(found["value"].iloc[0]) not in ("", "nan"):
                    values[i, j] = float(found["value"].iloc[0])
                    errors[i, j] = float(found["stat"].iloc[0])
        image = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1)
        for i in range(3):
            for j in range(3):
                if np.isfinite(values[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{values[i, j]:+.2f}\n±{errors[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=11,
                    )
        ax.set_xticks(range(3), list(AXES))
        ax.set_yticks(range(3), list(AXES))
        ax.set_xlabel(r"axis of $\ell^-$ (in the $\bar t$ frame)")
        ax.set_ylabel(r"axis of $\ell^+$ (in the $t$ frame)")
        _title(ax, title)
    fig.colorbar(image, ax=list(axes), label=r"$C_{ij}$")
    save_figure(fig, stem)


def _versus_size(ax, table, column, error_column, analytic, ylabel):
    """EveNet modes against training size (seed band), the analytic method as a line with
    its error band; ``analytic`` is (value, error) or None."""
    evenet = table[table["method"] == "evenet"]
    for mode, group in evenet.groupby("mode"):
        sizes = sorted(group["size"].astype(str).unique(), key=_size_value)
        x = np.arange(len(sizes))
        means, lows, highs = [], [], []
        for size in sizes:
            values = group[group["size"].astype(str) == size][column].astype(float)
            means.append(values.mean())
            lows.append(values.min())
            highs.append(values.max())
        errors = [
            group[group["size"].astype(str) == s][error_column].astype(float).mean() for s in sizes
        ]
        ax.errorbar(x, means, yerr=errors, marker="o", label=LABEL.get(mode, mode))
        ax.fill_between(x, lows, highs, alpha=0.2)  # spread over seeds
        ax.set_xticks(x, sizes)
    if analytic is not None and np.isfinite(analytic[0]):
        ax.axhline(analytic[0], color="gray", ls="--", label="analytic (ellipse)")
        ax.axhspan(analytic[0] - analytic[1], analytic[0] + analytic[1], color="gray", alpha=0.2)
    ax.set_xlabel("training events (before selection)")
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=12)


def precision_vs_size(precision: pd.DataFrame, stem: Path, quantity: str) -> None:
    rows = precision[(precision["quantity"] == quantity) & np.isfinite(precision["sigma"])]
    rows = rows.assign(
        epsilon_pct=100 * rows["epsilon"].astype(float),
        epsilon_err=100 * rows["epsilon"].astype(float) / np.sqrt(2 * (rows["toys"] - 1)),
    )
    analytic = rows[rows["method"] == "analytic"]
    fig, ax = plt.subplots(figsize=(9, 6.5))
    _versus_size(
        ax,
        rows,
        "epsilon_pct",
        "epsilon_err",
        tuple(analytic[["epsilon_pct", "epsilon_err"]].iloc[0]) if len(analytic) else None,
        r"$\varepsilon = \sigma(D)/|D + 1/3|$ [%]",
    )
    _title(ax, f"precision of {quantity} (toys)")
    save_figure(fig, stem)


def pairing_vs_size(pairing: pd.DataFrame, stem: Path) -> None:
    rows = pairing.assign(
        eff=100 * pairing["eff_matchable"].astype(float),
        err=100 * pairing["eff_matchable_err"].astype(float),
    )
    analytic = rows[rows["method"] == "analytic"]
    fig, ax = plt.subplots(figsize=(9, 6.5))
    _versus_size(
        ax,
        rows,
        "eff",
        "err",
        tuple(analytic[["eff", "err"]].iloc[0]) if len(analytic) else None,
        "pairing efficiency, matchable [%]",
    )
    _title(ax, "pairing (both tops right)")
    save_figure(fig, stem)


def toy_pulls(toys: pd.DataFrame, precision: pd.DataFrame, stem: Path, quantity: str):
    """(toy − nominal)/σ_analytic of every method with toys, against N(0, 1)."""
    fig, ax = plt.subplots(figsize=(8, 6))
    edges = np.linspace(-4, 4, 33)
    rows = precision[(precision["quantity"] == quantity) & np.isfinite(precision["sigma"])]
    for _, row in rows.iterrows():
        label = _label_of(row)
        values = toys[toys["label"] == label][quantity].to_numpy(dtype=float)
        if len(values) < 2:
            continue
        pulls = (values - float(row["D"])) / float(row["sigma_analytic"])
        counts, _ = np.histogram(pulls, edges)
        hep.histplot(counts / (len(pulls) * np.diff(edges)), edges, ax=ax, label=label)
    if not ax.get_legend_handles_labels()[0]:
        _nothing(ax, "no reconstruction could be unfolded")
    grid = np.linspace(-4, 4, 200)
    ax.plot(grid, np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi), "k--", label="N(0, 1)")
    ax.set_xlabel(f"({quantity} toy − nominal) / σ analytic")
    ax.set_ylabel("toys (normalised)")
    ax.legend(fontsize=9)
    _title(ax, "Poisson toys at the luminosity")
    save_figure(fig, stem)


def _nothing(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=13)


def _label_of(row) -> str:
    if not str(row["run"]) or str(row["run"]) == "nan":
        return str(row["method"])
    return f"{row['method']}_{row['run']}_{row['mode']}_size{row['size']}_seed{row['seed']}"
