"""Conversion of reconstruction files into point-cloud shards (DESIGN.md schema version 1)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from evenet.generation.ntuple import COLLECTIONS
from evenet.io.columns import to_numpy
from evenet.io.convert import convert_sample
from evenet.io.events import ReaderError
from evenet.io.manifest import ManifestError
from evenet.io.split import assign_split

MUON_MASS = 0.10566


def _write_ntuple(path, events: list[dict], drop=(), nan_branch=None):
    """A tiny ntuple in our NanoAOD naming; each event dict lists jets, muons, genpart."""

    def col(key, field, dtype):
        return ak.values_astype(
            ak.Array([[o[field] for o in e.get(key, [])] for e in events]), dtype
        )

    n = len(events)

    # Field names and dtypes of the ntuple contract (evenet.generation.ntuple.COLLECTIONS).
    def collection(name, key):
        return ak.zip({f: col(key, f, t) for f, t in COLLECTIONS[name].items()})

    jets, muons = collection("Jet", "jets"), collection("Muon", "muons")
    electrons, gen = collection("Electron", "electrons"), collection("GenPart", "gen")
    branches = {
        "run": np.full(n, 7, np.int32),
        "event": np.arange(n, dtype=np.int64),
        "process_id": np.full(n, 14, np.int32),
        "weight": np.ones(n, np.float32),
        "seed": np.full(n, 7, np.int32),
        "MET_pt": np.full(n, 30.0, np.float32),
        "MET_phi": np.zeros(n, np.float32),
        "Jet": jets,
        "Muon": muons,
        "Electron": electrons,
        "GenPart": gen,
    }
    with uproot.recreate(path) as f:
        tree = f.mktree(
            "Events",
            {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in branches.items()},
            counter_name=lambda name: f"n{name}",
        )
        tree.extend(branches)
    if drop or nan_branch:  # rewrite with a branch removed or poisoned
        arrays = uproot.open(path)["Events"].arrays(how=dict)
        for name in drop:
            arrays.pop(name)
        if nan_branch:
            arrays[nan_branch] = arrays[nan_branch] * np.nan
        with uproot.recreate(path) as f:
            f["Events"] = {k: v for k, v in arrays.items() if not k.startswith("n")}


def _jet(pt, eta, phi, btag=0.0, gen=-1):
    return {"pt": pt, "eta": eta, "phi": phi, "mass": 5.0, "btag": btag, "genPartIdx": gen}


def _muon(pt, eta, phi, charge, iso=0.01, gen=-1):
    return {
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "mass": MUON_MASS,
        "charge": charge,
        "pfRelIso04_all": iso,
        "ip3d": 0.002,
        "genPartIdx": gen,
    }


def _gen(pdg, mother, pt, eta, phi, mass):
    return {
        "pdgId": pdg,
        "genPartIdxMother": mother,
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "mass": mass,
    }


@pytest.fixture
def tiny(tmp_path):
    z_event = {  # Z -> mu mu, one b jet, one jet overlapping the first muon (removed)
        "muons": [_muon(20.0, 0.5, 1.0, -1, gen=1), _muon(40.0, -0.5, -2.0, +1, gen=2)],
        "jets": [_jet(50.0, 1.0, 0.0, btag=1.0), _jet(30.0, 0.55, 1.05), _jet(22.0, 3.0, 0.0)],
        "gen": [
            _gen(23, -1, 10.0, 0.0, 0.0, 91.0),
            _gen(13, 0, 20.0, 0.5, 1.0, MUON_MASS),
            _gen(-13, 0, 40.0, -0.5, -2.0, MUON_MASS),
        ],
    }
    busy_event = {  # an anti-isolated muon (dropped) and 20 jets (18 slots, nJet counts 20)
        "muons": [_muon(25.0, 0.0, 0.0, -1, iso=0.6)],
        "jets": [_jet(100.0 - i, 0.1 * (i % 20) - 1.0, 0.3 * i - 3.0) for i in range(20)],
        "gen": [],
    }
    path = tmp_path / "tiny.root"
    _write_ntuple(path, [z_event, busy_event])
    return path


def test_round_trip_known_values(tiny, tmp_path, base_config):
    out = tmp_path / "zjets_tiny"
    manifest = convert_sample(
        [tiny], out, "zjets_tiny", base_config, topology="z_ll", log=lambda _: None
    )
    table = pq.read_table(out / manifest["shards"][0]["path"])
    assert table.num_rows == 2
    x = to_numpy(table.column("x"))
    mask = to_numpy(table.column("x_mask"))
    glob = to_numpy(table.column("globals"))
    # Event 0: leptons first by pT (40 then 20), then jets by pT; the jet at ΔR 0.07 of the
    # 20 GeV muon is removed, the |eta| = 3 jet fails the acceptance.
    assert mask[0].sum() == 3
    np.testing.assert_allclose(x[0, :3, 1], [40.0, 20.0, 50.0])
    np.testing.assert_allclose(x[0, :3, 5], [1, 1, 0])  # isLepton
    np.testing.assert_allclose(x[0, :3, 6], [1, -1, 0])  # charge
    np.testing.assert_allclose(x[0, 2, 4], 1.0)  # isBJet
    np.testing.assert_allclose(
        x[0, 0, 0], np.sqrt((40 * np.cosh(-0.5)) ** 2 + MUON_MASS**2), rtol=1e-5
    )
    assert np.all(x[0, 3:] == 0)
    # globals: MET, MET_phi, nLepton, nJet, nBJet, HT, HT_lep, M_all, M_leptons, M_bjets
    np.testing.assert_allclose(glob[0, :7], [30.0, 0.0, 2, 1, 1, 50.0, 60.0], rtol=1e-6)
    np.testing.assert_allclose(glob[0, 9], 5.0, rtol=1e-5)  # one b jet: its own mass
    # Event 1: the anti-isolated muon is dropped; 18 of 20 jets stored, 20 counted.
    assert mask[1].sum() == 18 and glob[1, 2] == 0 and glob[1, 3] == 20
    np.testing.assert_allclose(x[1, :18, 1], 100.0 - np.arange(18))
    # Targets: Z -> mu- (GenPart 1, slot 1) mu+ (GenPart 2, slot 0).
    assert table.column("topology").to_pylist() == [7, -1]
    assignment = to_numpy(table.column("assignment"))
    assert assignment[0, 0, :2].tolist() == [1, 0]
    assert to_numpy(table.column("segmentation"))[0, :3].tolist() == [0, 0, -1]
    partons = to_numpy(table.column("partons"))
    np.testing.assert_allclose(partons[0, 0], [10.0, 0.0, 0.0, 91.0])
    assert manifest["counts"] == {
        "14": [sum(table.column("split").to_numpy() == s) for s in range(3)]
    }
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["has_targets"] is True and on_disk["shapes"]["R"] == 4
    assert pq.ParquetFile(out / manifest["shards"][0]["path"]).metadata.num_row_groups == len(
        manifest["shards"][0]["row_groups"]
    )


def test_split_is_a_pure_function_of_sample_run_event():
    """Guards against file-order splits (train/test leakage of the public code)."""
    rng = np.random.default_rng(0)
    run = rng.integers(1, 10**6, 100_000)
    event = rng.integers(0, 2**40, 100_000)
    split = assign_split("ttbar", run, event, [0.8, 0.1, 0.1])
    order = rng.permutation(len(run))
    np.testing.assert_array_equal(
        assign_split("ttbar", run[order], event[order], [0.8, 0.1, 0.1]), split[order]
    )
    fractions = np.bincount(split, minlength=3) / len(split)
    np.testing.assert_allclose(fractions, [0.8, 0.1, 0.1], atol=0.005)
    other = assign_split("wjets", run, event, [0.8, 0.1, 0.1])
    assert np.mean(other == split) < 0.7  # another sample, another draw


def test_cms_nanoaod_converts_without_targets(data_dir, tmp_path, base_config):
    path = data_dir / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
    manifest = convert_sample(
        [path], tmp_path / "cms", "cms_wjets", base_config, log=lambda _: None
    )
    assert manifest["has_targets"] is False and manifest["target_columns"] == []
    table = pq.read_table(tmp_path / "cms" / manifest["shards"][0]["path"])
    assert table.num_rows == 200 and "assignment" not in table.column_names
    assert set(table.column("process").to_numpy()) == {-1}
    with uproot.open(path) as f:
        tagged = f["Events"]["Jet_btagDeepFlavB"].array() > 0.3093
    assert to_numpy(table.column("x"))[..., 4].sum() <= ak.sum(tagged)


@pytest.mark.parametrize(
    "problem, says",
    [
        ({"drop": ["MET_phi"]}, "MET_phi"),
        ({"nan_branch": "Jet_pt"}, "Jet_pt"),
    ],
)
def test_bad_ntuples_are_named_and_nothing_is_written(tmp_path, base_config, problem, says):
    path = tmp_path / "bad.root"
    _write_ntuple(path, [{"jets": [_jet(30.0, 0.0, 0.0)], "muons": [], "gen": []}], **problem)
    out = tmp_path / "out"
    with pytest.raises(ReaderError, match=says):
        convert_sample([path], out, "bad", base_config, log=lambda _: None)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["bad.root"]


def test_failed_reconversion_keeps_the_previous_output(tiny, tmp_path, base_config):
    out = tmp_path / "sample"
    convert_sample([tiny], out, "sample", base_config, log=lambda _: None)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ReaderError, match="unknown topology"):
        convert_sample([tiny], out, "sample", base_config, topology="nope", log=lambda _: None)
    assert sorted(p.name for p in out.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample", "tiny.root"]


def test_not_a_root_file(tmp_path, base_config):
    fake = tmp_path / "fake.root"
    fake.write_text("hello")
    with pytest.raises(ReaderError, match="not a readable ROOT file"):
        convert_sample([fake], tmp_path / "o", "x", base_config, log=lambda _: None)


def test_round_trip_to_a_loader_batch(tiny, tmp_path, base_config):
    """ntuple -> shards -> loader batch: the tensors hold the values written into the file."""
    from evenet.data.dataset import ShardDataset

    out = tmp_path / "zjets_tiny"
    manifest = convert_sample(
        [tiny], out, "zjets_tiny", base_config, topology="z_ll", log=lambda _: None
    )
    batches = []
    for index, split in enumerate(("train", "val", "test")):
        if manifest["counts"]["14"][index]:  # the loader refuses an empty selection
            batches += list(ShardDataset(out, split=split, batch_size=8, shuffle=False))
    events = {int(e): i for b in batches for i, e in enumerate(b["event"])}
    assert sorted(events) == [0, 1]
    batch = next(b for b in batches if 0 in b["event"].tolist())
    row = batch["event"].tolist().index(0)
    assert batch["x"].shape[1:] == (18, 7) and batch["x"].dtype.is_floating_point
    np.testing.assert_allclose(batch["x"][row, :3, 1].numpy(), [40.0, 20.0, 50.0])
    assert batch["x_mask"][row].sum().item() == 3
    assert batch["assignment"][row, 0, :2].tolist() == [1, 0]


def test_x_extra_carries_isolation_and_ip3d(tiny, tmp_path, base_config):
    config = copy.deepcopy(base_config)
    config["conversion"]["x_extra"] = ["iso", "ip3d"]
    config["conversion"]["leptons"]["max_isolation"] = None  # keep the anti-isolated muon too
    manifest = convert_sample([tiny], tmp_path / "o", "t", config, log=lambda _: None)
    assert manifest["x_extra"] == ["iso", "ip3d"] and manifest["shapes"]["K"] == 2
    table = pq.read_table(tmp_path / "o" / manifest["shards"][0]["path"])
    extra = to_numpy(table.column("x_extra"))
    np.testing.assert_allclose(extra[0, :2], [[0.01, 0.002], [0.01, 0.002]], rtol=1e-5)
    np.testing.assert_allclose(extra[1, 0], [0.6, 0.002], rtol=1e-5)  # the anti-isolated muon
    assert np.all(extra[0, 2:] == 0)  # jets and padding


def test_globals_extra_holds_the_leading_dilepton(tiny, tmp_path, base_config):
    """Guards issue 16's globals_extra: the two leading leptons' mass, pT and Delta R beside
    the unchanged globals (M_leptons equals M_ll with exactly two leptons), and 0 for an event
    with fewer than two leptons; the statistics include the new group."""
    import vector

    from evenet.io.stats import compute_stats

    config = copy.deepcopy(base_config)
    config["conversion"]["globals_extra"] = ["M_ll", "pT_ll", "dR_ll"]
    manifest = convert_sample([tiny], tmp_path / "o", "t", config, log=lambda _: None)
    assert manifest["globals_extra"] == ["M_ll", "pT_ll", "dR_ll"]
    table = pq.read_table(tmp_path / "o" / manifest["shards"][0]["path"])
    extra = to_numpy(table.column("globals_extra"))
    glob = to_numpy(table.column("globals"))
    mu1 = vector.obj(pt=40.0, eta=-0.5, phi=-2.0, mass=MUON_MASS)
    mu2 = vector.obj(pt=20.0, eta=0.5, phi=1.0, mass=MUON_MASS)
    expected = [(mu1 + mu2).mass, (mu1 + mu2).pt, mu1.deltaR(mu2)]
    np.testing.assert_allclose(extra[0], expected, rtol=1e-4)
    np.testing.assert_allclose(extra[0, 0], glob[0, 8], rtol=1e-5)  # M_leptons
    assert np.all(extra[1] == 0)  # the busy event keeps no lepton
    stats = compute_stats(tmp_path / "o")
    assert stats["globals_extra"]["features"] == ["M_ll", "pT_ll", "dR_ll"]


def test_empty_ntuple_is_an_error(tmp_path, base_config):
    path = tmp_path / "empty.root"
    _write_ntuple(path, [])
    with pytest.raises(ReaderError, match="no events"):
        convert_sample([path], tmp_path / "o", "e", base_config, log=lambda _: None)
    assert not (tmp_path / "o").exists()


def test_an_output_folder_of_other_files_is_never_emptied(tiny, tmp_path, base_config):
    """Guards against issue 12 §1: converting into a folder holding the input and notes
    deleted both. Only an earlier conversion (its sample manifest) may be replaced."""
    folder = tmp_path / "clob"
    folder.mkdir()
    (folder / "notes.txt").write_text("notes")
    with pytest.raises(ManifestError, match="refusing to replace"):
        convert_sample([tiny], folder, "clob", base_config, log=lambda _: None)
    assert (folder / "notes.txt").read_text() == "notes"
    inside = folder / "tiny.root"
    inside.write_bytes(tiny.read_bytes())
    with pytest.raises(ManifestError, match="lies inside the output folder"):
        convert_sample([inside], folder, "clob", base_config, log=lambda _: None)
    afile = tmp_path / "afile.txt"
    afile.write_text("keep")
    with pytest.raises(ManifestError, match="is a file"):
        convert_sample([tiny], afile, "x", base_config, log=lambda _: None)
    assert afile.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.txt", "clob", "tiny.root"]
    out = tmp_path / "sample"
    convert_sample([tiny], out, "sample", base_config, log=lambda _: None)
    convert_sample([tiny], out, "sample", base_config, log=lambda _: None)  # a rerun replaces


@pytest.mark.parametrize("name", ["../../escaped", "/abs/name", "a b"])
def test_a_sample_name_that_is_not_a_plain_name_is_refused(tiny, tmp_path, name, capsys):
    """Guards against issue 12 §6: `--sample ../../escaped` wrote outside the output folder."""
    from evenet.cli import main

    code = main(
        ["convert", "--input", str(tiny), "--output", str(tmp_path / "o"), "--sample", name]
    )
    assert code == 2 and "may hold only letters" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.root"]


def test_a_corrupted_root_file_is_named_not_a_zlib_traceback(data_dir, tmp_path, base_config):
    """Guards against issue 12 §7: a damaged basket surfaced as a bare zlib.error traceback."""
    raw = bytearray((data_dir / "nanoAOD_2015_CMS_Open_Data_ttbar.root").read_bytes())
    start = len(raw) // 2
    raw[start : start + 2000] = bytes(b ^ 0x5A for b in raw[start : start + 2000])
    damaged = tmp_path / "damaged.root"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(ReaderError, match=r"damaged.root: .*corrupt .*regenerate or re-download"):
        convert_sample([damaged], tmp_path / "out", "x", base_config, log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_the_current_folder_is_not_an_output(tiny, tmp_path, base_config, monkeypatch):
    """Guards against issue 12 §7: `--output .` ended in a traceback (and would have renamed
    the folder the user stands in)."""
    work = tmp_path / "empty"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(ManifestError, match="current folder"):
        convert_sample([tiny], Path("."), "x", base_config, log=lambda _: None)


def test_the_anomaly_variant_keeps_muons_only(tiny, tmp_path, base_config):
    """Issue 17: the dimuon analysis's point clouds hold muons only (no jet, no electron),
    anti-isolated ones included, from 8 GeV; samples at the default lepton flavours and jets
    keep their conversion job options (no reconversion)."""
    from evenet import job_options
    from evenet.config import conversion_config

    config = copy.deepcopy(base_config)
    config["conversion"] = conversion_config(base_config, "anomaly")
    assert config["conversion"]["leptons"]["flavours"] == ["muon"]
    manifest = convert_sample([tiny], tmp_path / "o", "t", config, log=lambda _: None)
    table = pq.read_table(tmp_path / "o" / manifest["shards"][0]["path"])
    x, mask = to_numpy(table.column("x")), to_numpy(table.column("x_mask"))
    assert mask.sum(1).tolist() == [2, 1]  # the Z's two muons; the anti-isolated muon
    assert (x[mask][:, 5] == 1).all()  # every object a lepton: no jet
    assert (x[mask][:, 1] > 8.0).all()
    default = job_options.convert(base_config, "ttbar_dilepton", None)["conversion"]
    assert "flavours" not in default["leptons"] and "enabled" not in default["jets"]
    anomaly = job_options.convert(base_config, "dimuon_lowmass", "anomaly")["conversion"]
    assert anomaly["leptons"]["flavours"] == ["muon"] and anomaly["jets"]["enabled"] is False
