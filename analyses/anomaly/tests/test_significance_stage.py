"""The significance stage: cut-and-count and reweighted rows per method, sign, seed and
bootstrap resample, and the summary built from them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analyses.anomaly import significance_stage, summary
from evenet.stats.weak_supervision import cut_and_count

WINDOW = {"sr": [9.0, 10.6], "sb": [5.0, 16.0], "sr_edges": 12, "degree": 3}


def _toy_scores(path, seed, informative=True):
    """A falling background with 250 signal events at 9.8 GeV; signal scores high."""
    rng = np.random.default_rng(seed)
    background = 5 + rng.exponential(6.0, 12000)
    background = background[background < 16][:6000]
    signal = rng.normal(9.8, 0.15, 250)
    mass = np.r_[background, signal]
    truth = np.r_[np.zeros(len(background)), np.ones(len(signal))]
    score = rng.uniform(0, 1, len(mass))
    if informative:
        score = np.where(truth == 1, 0.97 + 0.03 * rng.uniform(0, 1, len(mass)), score)
    pq.write_table(
        pa.table({"mass": mass, "score": score, "opposite_sign": np.ones(len(mass), bool)}),
        path,
    )
    return mass, score


def test_rows_per_fpr_and_resample_and_the_summary(tmp_path):
    mass, score = _toy_scores(tmp_path / "a.parquet", 0)
    _toy_scores(tmp_path / "b.parquet", 1)
    options = {
        "window": WINDOW,
        "min_sideband_events": 100,
        "fpr": {"max": 1.0, "min": 0.01, "points": 5},
        "bootstrap": 2,
        "seed": 3,
        "title": "toy",
    }
    outputs = {
        "cut_and_count": tmp_path / "cut.csv",
        "reweighted": tmp_path / "rew.csv",
        "plot": tmp_path / "z.png",
        "spectra": tmp_path / "spectra.png",
    }
    nan_scores = pq.read_table(tmp_path / "b.parquet")
    nan_scores = nan_scores.set_column(
        nan_scores.schema.get_field_index("score"),
        "score",
        pa.array(np.full(nan_scores.num_rows, np.nan)),  # NaN as classify_stage writes it
    )
    pq.write_table(nan_scores, tmp_path / "nan.parquet")
    significance_stage.run(
        {
            "flow/1": str(tmp_path / "a.parquet"),
            "pretrained/1": str(tmp_path / "b.parquet"),
            "scratch/1": str(tmp_path / "nan.parquet"),  # too few events: skipped
        },
        options,
        outputs,
        log=lambda _: None,
    )
    cut, rew = pd.read_csv(outputs["cut_and_count"]), pd.read_csv(outputs["reweighted"])
    # (2 methods + the random line) x 5 FPRs x (data + 2 resamples); OS only
    assert len(cut) == 3 * 5 * 3 and len(rew) == 2 * 3
    assert set(cut["sign"]) == {"OS"} and set(cut["method"]) == {"flow", "pretrained", "random"}
    data = cut[(cut["method"] == "flow") & (cut["bootstrap"] == 0)].sort_values("fpr")
    direct = cut_and_count(
        mass,
        score,
        sorted(data["fpr"]),
        **{k: tuple(v) if isinstance(v, list) else v for k, v in WINDOW.items()},  # fmt: skip
    )
    np.testing.assert_allclose(data["Z"], [r["significance"] for r in direct], rtol=1e-9)
    tight = cut[(cut["bootstrap"] == 0) & np.isclose(cut["fpr"], 0.01)].set_index("method")
    assert tight.loc["flow", "Z"] > tight.loc["random", "Z"] + 1
    assert outputs["plot"].is_file() and outputs["spectra"].is_file()

    plan = {
        "b_sr": 900,
        "signal_available_sr": 300,
        "sideband_events": 5000,
        "sideband_validation_events": 1000,
        "injections": {
            "inj5": {"signal_sr": 150, "mass_only": {"significance": 2.0, "s": 140.0, "b": 900.0}}
        },
    }
    quality = pd.DataFrame(
        [
            {
                "method": "flow",
                "seed": "1",
                "real_events": 1000,
                "generated_events": 900,
                "quality_efficiency": 1.0,
                "auc": 0.55,
                "auc_err": 0.01,
                "mmd": 0.01,
                "mmd_err": 0.001,
                "coverage": 0.6,
                "coverage_err": 0.01,
            }
        ]  # fmt: skip
    )
    settings = {
        "dataset": "toy", "window": WINDOW, "bootstrap": 2, "signal_samples": ["sig"],
        "injections": [5], "classifier": {"folds": 5, "ensemble": 1}, "samples_per_sr_event": 4,
    }  # fmt: skip
    records = [
        {
            "search": "inj5",
            "method": "scratch",
            "seed": "2",
            "generated": 1000,
            "passing": 500,
            "efficiency": 0.5,
            "samples": 400,
            "sr_data": 100,
            "truth_auc_sr": 0.61,
            "sr_vs_samples_auc": 0.55,
        }  # fmt: skip
    ]
    plan["injections"]["inj0"] = {
        "signal_sr": 0, "mass_only": {"significance": 0.0, "s": -3.0, "b": 900.0}
    }  # fmt: skip
    tables = {"inj5": (cut, rew), "inj0": (cut, rew)}
    text, injection = summary.render(plan, tables, quality, settings, records)
    peaks = cut[cut["method"] == "random"].groupby(["seed", "bootstrap"])["Z"].max()
    assert f"| random cut | 3 | {peaks.median():.2f} |" in text
    assert "| inj5 | EveNet scratch | 2 | 1000 | 500 | 0.500 | 400 | 0.550 | 0.610 |" in text
    assert "| inj5 | 150 | 2.00 | 140 / 900 | CATHODE flow | OS |" in text
    assert "no same-sign events" in text and "6.39σ reweighted" in text
    assert set(injection["method"]) == {"mass_only", "flow", "pretrained"}
    assert "CATHODE flow" in text and "random" not in set(rew["method"])
    summary.plot_injection(injection, tmp_path / "inj.png")
    assert (tmp_path / "inj.png").is_file()
    json.dumps(plan)
