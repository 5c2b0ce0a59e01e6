"""Every output path of the `anomaly` analysis, on evenet.paths (results under
``{output_dir}/analyses/anomaly/``, logs and benchmarks under ``{output_dir}/logs/anomaly/``
and ``{output_dir}/benchmarks/anomaly/``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evenet import paths

NAME = "anomaly"


def results_dir(config: Mapping[str, Any]) -> Path:
    return paths.analysis_dir(config, NAME)


def mass_only(config: Mapping[str, Any], name: str = "{name}") -> dict[str, Path]:
    """The mass-only bump hunt of one input (``{name}``: a rule pattern): its JSON result and
    the spectrum with the fit."""
    folder = results_dir(config) / "mass_only" / name
    return {
        "result": folder / "bumphunt_mass_only.json",
        "plot": folder / "spectrum.png",
    }


def all_mass_only(config: Mapping[str, Any]) -> list[Path]:
    names = config["analyses"][NAME]["mass_only"]
    return [mass_only(config, name)["result"] for name in names]


# --- weak supervision (stages 3-4) ------------------------------------------------------------
SIDEBAND_LIST = "sideband"  # the event list the generator run fine-tunes on
SIDEBAND_VAL = "sideband_val"  # condition file: masses of the generator's SB validation events


def weak(config: Mapping[str, Any]) -> Path:
    return results_dir(config) / "weak_supervision"


def weak_settings(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config["analyses"][NAME]["weak_supervision"]


def searches(config: Mapping[str, Any]) -> list[str]:
    """inj<k> per injection on simulation; `data` for real data (no signal samples)."""
    from analyses.anomaly.events import search_name

    settings = weak_settings(config)
    if settings["dataset"] is None:
        return []
    if not settings["signal_samples"]:
        return ["data"]
    return [search_name(k) for k in settings["injections"]]


def sr_conditions_name(search: str) -> str:
    return f"sr_{search}"


def selected(config: Mapping[str, Any]) -> dict[str, Path]:
    """rule anomaly_select: the selected events, the injection plan, the generator's sideband
    list and the condition files (SB validation masses, SR masses per search)."""
    folder = weak(config)
    outputs = {
        "events": folder / "selected.parquet",
        "plan": folder / "injections.json",
        "sideband": paths.analysis_events(config, NAME, SIDEBAND_LIST),
        "sideband_val": paths.analysis_conditions(config, NAME, SIDEBAND_VAL),
    }
    for search in searches(config):
        name = sr_conditions_name(search)
        outputs[name] = paths.analysis_conditions(config, NAME, name)
    return outputs


def flow_samples(config: Mapping[str, Any], seed: str = "{seed}") -> dict[str, Path]:
    """rule anomaly_flow: one flow's samples per condition file (SB validation, SR per search)."""
    folder = weak(config) / "flow" / f"seed{seed}"
    names = [SIDEBAND_VAL] + [sr_conditions_name(s) for s in searches(config)]
    outputs = {name: folder / f"{name}.parquet" for name in names}
    outputs["record"] = folder / "flow.json"
    return outputs


def methods(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(method, seed) of every background model: the generator run's modes x seeds (EveNet
    pretrained / scratch) and the flow's seeds."""
    settings = weak_settings(config)
    run = config["analyses"][NAME]["runs"].get(settings["generator_run"], {})
    pairs = [(mode, str(seed)) for mode in run.get("modes", []) for seed in run.get("seeds", [])]
    return pairs + [("flow", str(seed)) for seed in settings["flow"]["seeds"]]


def scores(
    config: Mapping[str, Any], search: str = "{search}", method: str = "{method}", seed="{seed}"
) -> dict[str, Path]:
    """rule anomaly_classify: out-of-fold scores of every data event of one search, and the
    job's record (sample counts, quality-selection efficiency)."""
    folder = weak(config) / search / "scores"
    return {
        "scores": folder / f"{method}_seed{seed}.parquet",
        "record": folder / f"{method}_seed{seed}.json",
    }


def significance(config: Mapping[str, Any], search: str = "{search}") -> dict[str, Path]:
    """rule anomaly_significance: per search, the cut-and-count and reweighted bump hunts."""
    folder = weak(config) / search
    return {
        "cut_and_count": folder / "significance.csv",
        "reweighted": folder / "reweighted.csv",
        "plot": folder / "z_vs_fpr.png",
        "spectra": folder / "spectra.png",
    }


def generation_quality(config: Mapping[str, Any]) -> dict[str, Path]:
    folder = weak(config)
    return {"table": folder / "generation_quality.csv", "plot": folder / "generated_vs_real.png"}


def summary(config: Mapping[str, Any]) -> dict[str, Path]:
    return {
        "summary": results_dir(config) / "summary.md",
        "injection": weak(config) / "injection.png",
    }


def all_weak_supervision(config: Mapping[str, Any]) -> list[Path]:
    if weak_settings(config)["dataset"] is None:
        return []
    return list(summary(config).values())
