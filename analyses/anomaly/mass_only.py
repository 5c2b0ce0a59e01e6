"""The mass-only bump hunt of one input (stage 1 of the analysis): evenet.stats.bumphunt on a
dataset's mass feature, or status insufficient_events with the counts when a CI-scale
dataset has too few events to fit."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from evenet.io.results import write_json
from evenet.stats.bumphunt import BumpHuntError, bump_hunt, make_binning
from evenet.stats.bumphunt_input import bump_hunt_input
from evenet.stats.bumphunt_plot import plot_bump_hunt


def run(dataset: str, options: dict, result_path: str, plot_path: str) -> dict:
    """``options``: the input's column, weight and where, the window and min_sideband_events."""
    window = options["window"]
    mass, weight = bump_hunt_input(dataset, options["column"], options["weight"], options["where"])
    binning = make_binning(tuple(window["sr"]), tuple(window["sb"]), window["sr_edges"])
    sr_lo, sr_hi = binning.sr
    in_sb = ((mass >= binning.left[0]) & (mass < sr_lo)) | (
        (mass > sr_hi) & (mass <= binning.right[-1])
    )
    counts = {
        "events": int(len(mass)),
        "sideband": int(in_sb.sum()),
        "signal_region": int(np.sum((mass > sr_lo) & (mass < sr_hi))),
    }
    base = {"input": dataset, "column": options["column"], "where": options["where"], **counts}
    reason = None
    if counts["sideband"] < options["min_sideband_events"]:
        reason = f"{counts['sideband']} sideband events < {options['min_sideband_events']}"
    else:
        try:
            result = bump_hunt(
                mass,
                weight,
                sr=binning.sr,
                sb=binning.sb,
                sr_edges=window["sr_edges"],
                degree=window["degree"],
            )
        except BumpHuntError as error:
            reason = str(error)
    if reason is not None:
        payload = {"status": "insufficient_events", "reason": reason, **base}
        write_json(result_path, payload)
        _placeholder_plot(plot_path, reason)
        return payload
    payload = {"status": "ok", **base, **result}
    write_json(result_path, payload)
    plot_bump_hunt(mass, weight, payload, plot_path, title=f"{dataset}: {options['column']}")
    return payload


def _placeholder_plot(path: str, reason: str) -> None:
    """The spectrum's place when there is nothing to fit: a figure that says why."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from evenet.io.results import save_figure

    figure, ax = plt.subplots(figsize=(8, 3))
    ax.axis("off")
    ax.text(0.5, 0.5, f"no bump hunt: {reason}", ha="center", va="center")
    save_figure(figure, str(path).removesuffix(".png"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The mass-only bump hunt of one input.")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--options", required=True, help="the job's options as JSON")
    parser.add_argument("--result", required=True)
    parser.add_argument("--plot", required=True)
    args = parser.parse_args(argv)
    payload = run(args.dataset, json.loads(args.options), args.result, args.plot)
    summary = {k: payload.get(k) for k in ("status", "significance", "s", "b", "sideband")}
    print(f"[anomaly mass_only] {summary}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
