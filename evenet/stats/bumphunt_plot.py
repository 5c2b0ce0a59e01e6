"""The bump-hunt spectrum: data in every bin, the sideband fit and the s = 0 fit, SR shaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_bump_hunt(mass, weight, result: dict, path: str | Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep as hep

    from evenet.io.results import save_figure

    plt.style.use(hep.style.CMS)
    figure, ax = plt.subplots(figsize=(10, 7))
    draw_bump_hunt(ax, mass, weight, result, title)
    save_figure(figure, Path(path).with_suffix(""))


def draw_bump_hunt(ax, mass, weight, result: dict, title: str = "", fontsize: int = 14) -> None:
    """The spectrum, the sideband fit, the s = 0 fit and the SR on one matplotlib axis."""
    import mplhep as hep

    binning = result["binning"]
    edges = np.unique(np.concatenate([binning["left"], binning["signal"], binning["right"]]))
    counts, _ = np.histogram(mass, edges, weights=weight)
    squares, _ = np.histogram(mass, edges, weights=None if weight is None else weight**2)
    hep.histplot(
        counts,
        edges,
        yerr=np.sqrt(squares),
        histtype="errorbar",
        color="black",
        label="data",
        ax=ax,
    )
    grid = np.linspace(edges[0], edges[-1], 400)
    for theta, style, label in (
        (result["theta"], "-", f"sideband fit (degree {result['degree']})"),
        (result["theta_null"], "--", "fit with s = 0"),
    ):
        ax.plot(grid, np.polynomial.polynomial.polyval(grid, theta), style, label=label)
    ax.axvspan(*result["sr"], color="tab:orange", alpha=0.15, label="signal region")
    ax.set_xlabel(r"$m_{\mu\mu}$ [GeV]")
    ax.set_ylabel(f"events / {binning['width_gev']:.4f} GeV")
    text = (
        f"Z = {result['significance']:.2f}, S = {result['s']:.0f}, B = {result['b']:.0f}, "
        f"$\\chi^2$/ndf = {result['chi2_ndf']:.2f}"
    )
    ax.set_title(f"{title}\n{text}" if title else text, fontsize=fontsize)
    ax.legend(fontsize=fontsize - 2)
