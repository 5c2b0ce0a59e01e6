"""Delphes and plain-table readers: known values in, known values out; bad inputs refused."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot
import vector
import yaml

from evenet.io.delphes import ELECTRON_MASS, MUON_MASS, read_delphes
from evenet.io.events import ReaderError
from evenet.io.tables import read_table

FORMATS = Path(__file__).resolve().parents[2] / "config" / "table_formats"

# --- Delphes ----------------------------------------------------------------------------------


def _collections(n_weight: bool = True, nan_jet: bool = False) -> dict[str, ak.Array]:
    f4, i4 = np.float32, np.int32
    jet_pt = [[120.0, 45.0, 30.0], [], [60.0]]
    if nan_jet:
        jet_pt[2][0] = np.nan
    jets = ak.zip(
        {
            "PT": ak.values_astype(jet_pt, f4),
            "Eta": ak.values_astype([[0.5, -1.0, 2.0], [], [0.1]], f4),
            "Phi": ak.values_astype([[0.1, 2.0, -3.0], [], [1.5]], f4),
            "Mass": ak.values_astype([[10.0, 5.0, 4.0], [], [8.0]], f4),
            # bit 0 = first b-tagging module, bit 1 = second: 3 = both, 2 = only the second
            "BTag": ak.values_astype([[1, 2, 0], [], [3]], np.uint32),
        }
    )
    muons = ak.zip(
        {
            "PT": ak.values_astype([[40.0], [25.0, 15.0], []], f4),
            "Eta": ak.values_astype([[1.0], [0.0, -2.0], []], f4),
            "Phi": ak.values_astype([[0.5], [-1.0, 3.0], []], f4),
            "Charge": ak.values_astype([[-1], [1, -1], []], i4),
            "IsolationVar": ak.values_astype([[0.05], [0.0, 0.3], []], f4),
            "D0": ak.values_astype([[0.03], [0.0, -0.4], []], f4),  # mm
            "DZ": ak.values_astype([[0.04], [0.0, 0.3], []], f4),  # mm
        }
    )
    electrons = ak.zip(  # no D0 / DZ: ip3d falls back to 0
        {
            "PT": ak.values_astype([[], [], [33.0]], f4),
            "Eta": ak.values_astype([[], [], [-0.7]], f4),
            "Phi": ak.values_astype([[], [], [2.2]], f4),
            "Charge": ak.values_astype([[], [], [1]], i4),
            "IsolationVar": ak.values_astype([[], [], [0.12]], f4),
        }
    )
    met = ak.zip(
        {
            "MET": ak.values_astype([[20.0], [35.5], [7.0]], f4),
            "Phi": ak.values_astype([[-0.5], [1.0], [3.0]], f4),
        }
    )
    out = {"Jet": jets, "Muon": muons, "Electron": electrons, "MissingET": met}
    if n_weight:
        out["Event"] = ak.zip(
            {
                "Number": ak.values_astype([[101], [102], [103]], np.int64),
                "Weight": ak.values_astype([[1.5], [-0.5], [2.0]], f4),
            }
        )
    return out


def _write_delphes(path: Path, collections: dict[str, ak.Array], tree: str = "Delphes") -> Path:
    """Branches named as Delphes names them ("Jet.PT", counter "Jet_size"), not nested."""
    with uproot.recreate(path) as file:
        file.mktree(
            tree,
            {name: array.type for name, array in collections.items()},
            field_name=lambda outer, inner: f"{outer}.{inner}",
            counter_name=lambda counted: f"{counted}_size",
        )
        file[tree].extend(collections)
    return path


def test_delphes_known_values(tmp_path):
    """Guards the Delphes conventions: BTag bit mask, D0/DZ mm -> cm, first-entry MET/Event."""
    path = _write_delphes(tmp_path / "d.root", _collections())
    assert "Jet.PT" in uproot.open(path)["Delphes"].keys()
    ev = read_delphes(path, "dy", process=7)
    assert len(ev) == 3 and ev.sample == "dy" and not ev.has_truth
    assert ev.event.tolist() == [101, 102, 103] and ev.event.dtype == np.int64
    assert ev.run.tolist() == [0, 0, 0] and ev.run.dtype == np.int64
    assert ev.process.tolist() == [7, 7, 7] and ev.process.dtype == np.int32
    np.testing.assert_allclose(ev.weight, [1.5, -0.5, 2.0])
    np.testing.assert_allclose(ev.met_pt, [20.0, 35.5, 7.0])
    np.testing.assert_allclose(ev.met_phi, [-0.5, 1.0, 3.0])
    assert ev.jets.btag.tolist() == [[1, 0, 0], [], [1]]
    assert read_delphes(path, "dy", btag_bit=1).jets.btag.tolist() == [[0, 1, 0], [], [1]]
    assert ev.jets.mass.tolist() == [[10.0, 5.0, 4.0], [], [8.0]]
    assert ev.muons.charge.tolist() == [[-1], [1, -1], []]
    np.testing.assert_allclose(ak.flatten(ev.muons.iso), [0.05, 0.0, 0.3], rtol=1e-6)
    np.testing.assert_allclose(ak.flatten(ev.muons.ip3d), [0.005, 0.0, 0.05], rtol=1e-6)
    np.testing.assert_allclose(ak.flatten(ev.muons.mass), MUON_MASS, rtol=1e-6)
    assert ev.electrons.ip3d.tolist() == [[], [], [0.0]]
    np.testing.assert_allclose(ak.flatten(ev.electrons.mass), ELECTRON_MASS, rtol=1e-6)
    assert ev.electrons.pt.tolist() == [[], [], [33.0]]
    assert set(ev.jets.fields) == {"pt", "eta", "phi", "mass", "btag"}
    assert set(ev.muons.fields) == {"pt", "eta", "phi", "mass", "charge", "iso", "ip3d"}


def test_delphes_chunk_without_event_branch(tmp_path):
    """Without Event.Number the event id is the global entry index, so chunks never collide."""
    path = _write_delphes(tmp_path / "d.root", _collections(n_weight=False))
    ev = read_delphes(path, "dy", entry_start=1, entry_stop=3, run=5)
    assert ev.event.tolist() == [1, 2] and ev.run.tolist() == [5, 5]
    assert ev.weight.tolist() == [1.0, 1.0]
    assert ev.jets.pt.tolist() == [[], [60.0]]


def test_delphes_errors_name_file_and_branch(tmp_path):
    with pytest.raises(ReaderError, match="no such file"):
        read_delphes(tmp_path / "absent.root", "x")
    other = _write_delphes(tmp_path / "other.root", _collections(), tree="Events")
    with pytest.raises(ReaderError, match=r"other\.root.*no tree 'Delphes'"):
        read_delphes(other, "x")
    cols = _collections()
    cols["Muon"] = cols["Muon"][["PT", "Eta", "Phi", "Charge"]]  # IsolationVar missing
    bad = _write_delphes(tmp_path / "noiso.root", cols)
    with pytest.raises(ReaderError, match=r"noiso\.root.*'Muon\.IsolationVar'"):
        read_delphes(bad, "x")
    nan = _write_delphes(tmp_path / "nan.root", _collections(nan_jet=True))
    with pytest.raises(ReaderError, match=r"nan\.root.*'Jet\.PT'.*NaN"):
        read_delphes(nan, "x")


# --- tables: the shipped maps on the real files -------------------------------------------------


def _mass(e, px, py, pz):
    return np.sqrt(e**2 - px**2 - py**2 - pz**2)


def _pair_mass(muons: ak.Array) -> np.ndarray:
    v = vector.zip({k: muons[k] for k in ("pt", "eta", "phi", "mass")})
    return ak.to_numpy((v[:, 0] + v[:, 1]).mass)


def test_ymumu_mass_matches_source(data_dir):
    """Guards the E/px/py/pz -> pt/eta/phi conversion and the fixed-mass choice of ymumu.yaml."""
    ev = read_table(data_dir / "Ymumu.csv", FORMATS / "ymumu.yaml", "ymumu_2011")
    assert len(ev) == 20000 and ak.all(ak.num(ev.muons) == 2)
    assert ak.all(ak.num(ev.jets) == 0) and ak.all(ak.num(ev.electrons) == 0)
    assert ak.all(ev.muons.charge[:, 0] == -ev.muons.charge[:, 1])
    assert np.all(ev.process == -1) and np.all(ev.weight == 1)
    src = pd.read_csv(data_dir / "Ymumu.csv")
    assert ev.run.tolist() == src.Run.tolist() and ev.event.tolist() == src.Event.tolist()
    expected = _mass(*(src[f"{c}1"] + src[f"{c}2"] for c in ("E", "px", "py", "pz")))
    mass = _pair_mass(ev.muons)
    assert mass.min() > 8.0 and mass.max() < 12.0
    np.testing.assert_allclose(mass, expected, rtol=1e-3)


def test_zmumu_peak_charges_and_isolation(data_dir):
    """Guards the absolute -> relative isolation and |dxy| -> ip3d conversions of zmumu.yaml."""
    ev = read_table(data_dir / "Zmumu.csv", FORMATS / "zmumu.yaml", "zmumu_2011")
    assert len(ev) == 10000 and ak.all(ak.num(ev.muons) == 2)
    assert int(ak.sum(ev.muons.charge[:, 0] == ev.muons.charge[:, 1])) == 336
    counts, edges = np.histogram(_pair_mass(ev.muons), bins=np.arange(60.0, 121.0, 2.0))
    assert 86.0 <= edges[np.argmax(counts)] <= 94.0
    src = pd.read_csv(data_dir / "Zmumu.csv")
    for i in (0, 1):
        mu = ev.muons[:, i]
        np.testing.assert_allclose(mu.iso, src[f"iso{i + 1}"] / src[f"pt{i + 1}"], rtol=1e-5)
        np.testing.assert_allclose(mu.ip3d, np.abs(src[f"dxy{i + 1}"]), rtol=1e-6)
        np.testing.assert_allclose(mu.pt, src[f"pt{i + 1}"], rtol=1e-6)


# --- tables: a synthetic Parquet file and bad inputs --------------------------------------------


def test_parquet_jets_electrons_and_energy_mass(tmp_path):
    """Covers Parquet, jets, electrons, E -> mass, constants and the built-in defaults."""
    path = tmp_path / "t.parquet"
    pd.DataFrame(
        {
            "j_E": [50.0, 100.0],
            "j_px": [30.0, 0.0],
            "j_py": [0.0, 60.0],
            "j_pz": [0.0, 0.0],
            "j_tag": [1, 0],
            "e_pt": [20.0, 40.0],
            "e_eta": [0.3, -1.2],
            "e_phi": [0.0, 1.0],
            "e_q": [-1, 1],
            "e_d0": [0.2, -0.5],
            "met": [12.0, 3.0],
        }
    ).to_parquet(path)
    fmt = {
        "event": {"run": 42, "met_pt": "met"},
        "objects": [
            {"kind": "jet", "E": "j_E", "px": "j_px", "py": "j_py", "pz": "j_pz", "btag": "j_tag"},
            {
                "kind": "electron",
                "pt": "e_pt",
                "eta": "e_eta",
                "phi": "e_phi",
                "charge": "e_q",
                "ip3d": {"column": "e_d0", "scale": 0.1, "abs": True},
            },
        ],
    }
    ev = read_table(path, fmt, "toy")
    assert ev.run.tolist() == [42, 42] and ev.event.tolist() == [0, 1]
    assert ev.met_pt.tolist() == [12.0, 3.0] and ev.met_phi.tolist() == [0.0, 0.0]
    np.testing.assert_allclose(ak.flatten(ev.jets.mass), [40.0, 80.0], rtol=1e-6)
    np.testing.assert_allclose(ak.flatten(ev.jets.phi), [0.0, np.pi / 2], atol=1e-6)
    assert ev.jets.btag.tolist() == [[1.0], [0.0]]
    np.testing.assert_allclose(ak.flatten(ev.electrons.ip3d), [0.02, 0.05], rtol=1e-6)
    assert ev.electrons.iso.tolist() == [[0.0], [0.0]]
    np.testing.assert_allclose(ak.flatten(ev.electrons.mass), ELECTRON_MASS, rtol=1e-6)
    assert ak.all(ak.num(ev.muons) == 0)


def _small_zmumu(data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(data_dir / "Zmumu.csv", nrows=20)


def test_table_missing_column_names_column_and_file(data_dir, tmp_path):
    path = tmp_path / "noiso.csv"
    _small_zmumu(data_dir).drop(columns="iso2").to_csv(path, index=False)
    with pytest.raises(ReaderError, match=r"noiso\.csv.*'iso2'"):
        read_table(path, FORMATS / "zmumu.yaml", "z")


def test_table_nan_names_column_and_file(data_dir, tmp_path):
    path = tmp_path / "nan.csv"
    frame = _small_zmumu(data_dir)
    frame.loc[7, "eta1"] = np.nan
    frame.to_csv(path, index=False)
    with pytest.raises(ReaderError, match=r"nan\.csv.*'eta1'.*NaN.*row 7"):
        read_table(path, FORMATS / "zmumu.yaml", "z")


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m: m.update(colour="red"), r"unknown key.*'colour'"),
        (lambda m: m["objects"][0].update(isolation="iso1"), r"objects\[0\].*'isolation'"),
        (lambda m: m["event"].update(lumi="Lumi"), r"event.*'lumi'"),
        (
            lambda m: m["objects"][1].update(iso={"column": "iso2", "relative": True}),
            r"objects\[1\]\.iso.*'relative'",
        ),
        (lambda m: m["objects"][0].update(kind="tau"), r"'kind' must be one of"),
        (lambda m: m["objects"][0].pop("charge"), r"no 'charge'"),
    ],
)
def test_table_bad_map_refused(data_dir, edit, match):
    """An unknown key is an error, never silently ignored (a typo would drop a conversion)."""
    fmt = yaml.safe_load((FORMATS / "zmumu.yaml").read_text())
    edit(fmt)
    with pytest.raises(ReaderError, match=match):
        read_table(data_dir / "Zmumu.csv", fmt, "z")


@pytest.mark.parametrize(
    "column, value, says",
    [("Q1", 2, r"muon charge must be -1 or \+1, row 3 has 2"), ("pt1", -5.0, r"pt must be > 0")],
)
def test_table_values_out_of_range_are_refused(data_dir, tmp_path, column, value, says):
    """Guards against issue 12 §9: a CSV with charge = 2 (or a negative pT) was accepted."""
    path = tmp_path / "bad.csv"
    frame = _small_zmumu(data_dir)
    frame.loc[3, column] = value
    frame.to_csv(path, index=False)
    with pytest.raises(ReaderError, match=says):
        read_table(path, FORMATS / "zmumu.yaml", "z")
