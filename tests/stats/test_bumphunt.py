"""The mass-only bump hunt (issue 17, part 1): binning, the likelihood, toys, the reference
numbers on real CMS 2016H dimuons, and the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evenet.cli import main
from evenet.stats.bumphunt import (
    Terms,
    bump_hunt,
    design,
    fit_terms,
    make_binning,
    make_terms,
    minus_two_log_likelihood,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MASSES = DATA / "dimuon_2016H_masses.csv"
WINDOW = {"sr": (9.0, 10.6), "sb": (7.8, 15.0), "sr_edges": 12}
# background counts per bin of the toys: a falling cubic, ~200 events per 0.145 GeV bin
BACKGROUND = np.array([900.0, -120.0, 6.0, -0.1])
SR, SB = (9.0, 10.6), (5.0, 16.0)


def test_bins_step_outward_from_the_signal_region():
    binning = make_binning(SR, SB, 12)
    assert binning.as_dict()["bins"] == [27, 11, 37]
    assert binning.width == pytest.approx(1.6 / 11)
    assert binning.left[0] == pytest.approx(5.072727, abs=1e-6)
    assert binning.right[-1] == pytest.approx(15.981818, abs=1e-6)
    assert binning.left[-1] == 9.0 and binning.right[0] == 10.6


def _toy(rng, signal: float = 0.0, mean: float = 9.8, width: float = 0.1) -> np.ndarray:
    """Masses over 5-16 GeV: Poisson counts of BACKGROUND per bin-width (uniform inside
    fine slices), plus ``signal`` Gaussian events."""
    binning = make_binning(SR, SB, 12)
    fine = np.linspace(SB[0], SB[1], 2201)
    centres = 0.5 * (fine[1:] + fine[:-1])
    density = np.polynomial.polynomial.polyval(centres, BACKGROUND) / binning.width
    counts = rng.poisson(density * np.diff(fine))
    masses = rng.uniform(np.repeat(fine[:-1], counts), np.repeat(fine[1:], counts))
    return np.concatenate([masses, rng.normal(mean, width, rng.poisson(signal))])


def _asimov_z(signal: float, degree: int) -> float:
    """Z of the same likelihood on the expected counts (background + all the signal in the
    SR, a 0.1 GeV-wide bump at 9.8 GeV lies well inside it)."""
    binning = make_binning(SR, SB, 12)
    a = design(binning, degree=3)
    expected = a @ BACKGROUND
    expected[-1] += signal
    n = len(expected)
    terms = Terms(expected, np.ones(n), expected[:-1] + 1.0, np.zeros(n, bool))
    return fit_terms(binning, terms, degree)["significance"]


def test_a_known_bump_is_recovered_and_its_z_matches_the_asimov_z():
    rng = np.random.default_rng(1)
    injected = 600.0
    fits = [bump_hunt(_toy(rng, injected), sr=SR, sb=SB, degree=3) for _ in range(40)]
    s = np.array([f["s"] for f in fits])
    z = np.array([f["significance"] for f in fits])
    assert all(f["converged"] for f in fits)
    spread = s.std()
    assert np.mean(np.abs(s - injected) < 2 * spread) >= 0.9  # fits within their 2 sigma
    assert abs(s.mean() - injected) < 2 * spread / np.sqrt(len(s))  # no bias
    asimov = _asimov_z(injected, degree=3)
    # sideband extrapolation dominates: the Asimov Z is far below S / sqrt(B)
    assert asimov < 0.8 * injected / np.sqrt(fits[0]["b"])
    assert abs(np.median(z) - asimov) < 0.2 * asimov


def test_without_a_signal_z_stays_below_two_in_95_percent_of_toys():
    rng = np.random.default_rng(2)
    z = np.array([bump_hunt(_toy(rng), sr=SR, sb=SB, degree=3)["significance"] for _ in range(100)])
    assert np.mean(z < 2) >= 0.95


def test_a_deficit_gives_z_zero():
    rng = np.random.default_rng(3)
    masses = _toy(rng)
    in_sr = (masses > SR[0]) & (masses < SR[1])
    masses = np.concatenate([masses[~in_sr], masses[in_sr][::2]])  # half the SR removed
    result = bump_hunt(masses, sr=SR, sb=SB, degree=3)
    assert result["s"] < 0 and result["significance"] == 0.0 and result["q0"] == 0.0


def test_unit_weights_are_the_unweighted_likelihood_and_zero_weights_count_as_empty():
    rng = np.random.default_rng(4)
    masses = _toy(rng, 300.0)
    plain = bump_hunt(masses, sr=SR, sb=SB, degree=3)
    unit = bump_hunt(masses, np.ones_like(masses), sr=SR, sb=SB, degree=3)
    assert unit["significance"] == pytest.approx(plain["significance"], rel=1e-12)
    binning = make_binning(SR, SB, 12)
    weights = np.where(masses < 6.0, 0.0, 1.0)  # the lowest SB bins: all weights 0
    terms = make_terms(masses, weights, binning)
    assert terms.empty[:3].all() and (terms.n[:3] == 0).all() and not terms.empty[-1]
    lam = np.full(len(terms.n), 5.0)
    only_first = np.zeros(len(terms.n), bool)
    only_first[0] = True
    assert minus_two_log_likelihood(lam, terms, only_first) == pytest.approx(2 * 5.0)
    lam[0] = -1.0
    assert minus_two_log_likelihood(lam, terms, only_first) == float("inf")  # no warning


def test_weighted_events_use_the_scaled_poisson():
    masses = np.array([5.1, 5.12, 9.5, 9.6])
    terms = make_terms(masses, np.array([1.0, 3.0, 2.0, 2.0]), make_binning(SR, SB, 12))
    assert terms.n[0] == 4.0 and terms.f[0] == pytest.approx(10.0 / 4.0)  # <w^2>/<w>
    assert terms.n[-1] == 4.0 and terms.f[-1] == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("degree", "fpr", "exact", "nelder_mead"),
    [(5, 1.0, 0.709, 0.794), (5, 0.1, 4.798, 4.899), (3, 1.0, 1.479, 1.479)],
)
def test_reference_numbers_on_cms_2016h_dimuons(degree, fpr, exact, nelder_mead):
    """../shared/data/README.md: the exact fit and the reference code's Nelder-Mead, which
    stops short of the minimum at degree 5."""
    import pandas as pd

    table = pd.read_csv(MASSES)
    masses = table["mass_gev"].to_numpy()[table["tightest_fpr"].to_numpy() <= fpr]
    ours = bump_hunt(masses, degree=degree, **WINDOW)
    assert ours["converged"]
    assert ours["significance"] == pytest.approx(exact, abs=0.01)
    theirs = bump_hunt(masses, degree=degree, minimizer="nelder-mead", **WINDOW)
    assert theirs["significance"] == pytest.approx(nelder_mead, abs=0.01)


def test_the_command_prints_one_json_object_and_reports_bad_input(tmp_path, capsys):
    argv = ["bumphunt", "--input", str(MASSES), "--column", "mass_gev", "--sr", "9", "10.6"]
    argv += ["--sb", "7.8", "15", "--where", "tightest_fpr<=0.1", "--json"]
    assert main([*argv, "--plot", str(tmp_path / "spectrum.png")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["significance"] == pytest.approx(4.798, abs=0.01)
    assert result["binning"]["bins"] == [8, 11, 30] and len(result["theta"]) == 6
    assert (tmp_path / "spectrum.png").is_file() and (tmp_path / "spectrum.pdf").is_file()
    for change, message in (
        (["--column", "mass"], "has no column(s) ['mass']"),
        (["--where", "tightest_fpr<0.1; import os"], "expected COLUMN OP NUMBER"),
        (["--sr", "9", "17"], "need sb_lo < sr_lo < sr_hi < sb_hi"),
        (["--weight", "tightest_fpr", "--where", "mass_gev<0"], "no rows left"),
    ):
        assert main([*argv, *change]) == 2
        assert message in capsys.readouterr().err


def test_the_fpr_cut_keeps_the_requested_sideband_fraction():
    from evenet.stats.weak_supervision import cut_and_count, fpr_cut

    rng = np.random.default_rng(5)
    masses = _toy(rng, 300.0)
    score = rng.random(len(masses))
    sideband = ((masses < SR[0]) | (masses > SR[1])) & (masses >= 5.0727) & (masses <= 15.99)
    n = int(sideband.sum())
    for fpr in (1.0, 0.3, 0.1, 0.01, 0.001):
        cut = fpr_cut(score[sideband], fpr)
        assert abs(np.mean(score[sideband] >= cut) - fpr) <= 1.0 / n
    results = cut_and_count(masses, score, [1.0, 0.1], sr=SR, sb=SB, degree=3)
    assert all(abs(r["fpr_measured"] - r["fpr"]) <= 1.0 / n for r in results)
    # a random score keeps the bump's share: no gain in Z from cutting
    assert results[1]["significance"] < results[0]["significance"]


def test_reweighting_with_uninformative_scores_is_the_mass_only_fit():
    """Every score 0.5: likelihood ratio 1, every weight 1, the mass-only Z."""
    from evenet.stats.weak_supervision import reweighted, reweighting_weights

    rng = np.random.default_rng(6)
    masses = _toy(rng, 500.0)
    plain = bump_hunt(masses, sr=SR, sb=SB, degree=3)
    result = reweighted(masses, np.full(len(masses), 0.5), sr=SR, sb=SB, degree=3)
    assert result["reweighted"]
    assert result["significance"] == pytest.approx(plain["significance"], rel=1e-9)
    weights = reweighting_weights(np.array([0.0, 0.5, 0.9, 1.0]), mu=0.2)
    np.testing.assert_allclose(weights, [0.0, 1.0, (9.0 - 0.8) / 0.2, 1e9])


def test_signal_region_masses_follow_the_sideband_fit():
    from evenet.stats.bumphunt import sample_signal_region_masses

    theta = [400.0, -30.0]  # b(m) = 400 - 30 m: falling across 9-10.6 GeV
    masses = sample_signal_region_masses(theta, SR, 200_000, np.random.default_rng(7))
    assert masses.min() >= SR[0] and masses.max() <= SR[1]
    counts, edges = np.histogram(masses, bins=8, range=SR)
    centres = 0.5 * (edges[1:] + edges[:-1])
    expected = (400 - 30 * centres) / np.sum(400 - 30 * centres) * len(masses)
    np.testing.assert_allclose(counts, expected, rtol=0.02)
    with pytest.raises(Exception, match="negative inside the SR"):
        sample_signal_region_masses([-1.0], SR, 10, np.random.default_rng(0))


def test_a_nan_mass_is_named_with_its_row(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"m": [9.5, 9.6, float("nan")]}), path)
    assert main(["bumphunt", "--input", str(path), "--column", "m"]) == 2
    assert "column 'm' has 1 NaN or infinite value(s)" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [0, 3])
def test_a_spectrum_with_empty_sidebands_is_fitted_on_the_boundary(seed):
    """After a tight classifier cut the upper sideband can be empty: the maximum then lies
    where the polynomial touches 0, plain Newton stalls there (it reported converged: false
    and a flat curve with chi2/ndf ~ 45 on the local simulation), and the interior-point
    fit must reach a likelihood at least as good as Nelder-Mead's."""
    rng = np.random.default_rng(seed)
    mass = 5.0 + rng.exponential(1.0, 600)
    mass = mass[mass < 16.0]
    exact = bump_hunt(mass, sr=(9.0, 10.6), sb=(5.0, 16.0), degree=5)
    reference = bump_hunt(mass, sr=(9.0, 10.6), sb=(5.0, 16.0), degree=5, minimizer="nelder-mead")
    assert exact["converged"]
    assert exact["chi2_ndf"] < 2.0
    binning = make_binning((9.0, 10.6), (5.0, 16.0), 12)
    terms = make_terms(mass, None, binning)
    sidebands = np.r_[np.ones(len(binning.centres), bool), False]
    a = design(binning, 5)

    def nll2(theta):
        return minus_two_log_likelihood(a @ np.asarray(theta), terms, sidebands)

    assert nll2(exact["theta"]) <= nll2(reference["theta"]) + 1e-6
