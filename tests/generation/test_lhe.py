"""Showering external LHE files: beams from the file, weights with their sign, end of file."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from evenet.catalogue import get_process
from evenet.generation.generate import generate_shard


def _generate(data_dir, tmp_path, config, name, events):
    out = tmp_path / f"{name}.root"
    summary = generate_shard(
        get_process("external_lhe"), events, 5, out, config, lhe=data_dir / name, progress=False
    )
    with uproot.open(out) as f:
        return summary, f["Events"].arrays(), f["Runs"].arrays()


def test_pythia6_ttbar_lhe_at_tevatron_energy(data_dir, tmp_path, base_config):
    summary, events, runs = _generate(
        data_dir, tmp_path, base_config, "pylhe-testfile-pythia-6.413-ttbar.lhe", 150
    )
    assert summary.events == 100  # stops at the end of the file
    assert runs.sqrt_s_gev[0] == pytest.approx(1960.0)
    assert ak.all(events.process_id == 0)
    assert ak.all(events.weight == 1.0)
    assert ak.all(ak.sum(np.abs(events.GenPart_pdgId) == 6, axis=1) == 2)


def test_powheg_negative_weights_keep_their_sign(data_dir, tmp_path, base_config):
    summary, events, runs = _generate(
        data_dir, tmp_path, base_config, "pylhe-testfile-powheg-box-v2-hvq.lhe", 50
    )
    assert summary.events == 6
    assert runs.sqrt_s_gev[0] == pytest.approx(5020.0)
    weights = events.weight.to_numpy()
    assert (weights < 0).sum() == 2 and (weights > 0).sum() == 4
    np.testing.assert_allclose(np.abs(weights), 1.11453e7, rtol=1e-5)
    assert runs.genEventSumw[0] == pytest.approx(weights.sum(), rel=1e-5)
    # γ*/Z → ee: both electrons are in the hard-process truth record.
    assert ak.all(ak.sum(np.abs(events.GenPart_pdgId) == 11, axis=1) == 2)


def test_gzipped_lhe_is_read(data_dir, tmp_path):
    import gzip

    from evenet.cli import main

    packed = tmp_path / "hvq.lhe.gz"
    packed.write_bytes(
        gzip.compress((data_dir / "pylhe-testfile-powheg-box-v2-hvq.lhe").read_bytes())
    )
    out = tmp_path / "gz.root"
    assert (
        main(["generate", "--lhe", str(packed), "--events", "3", "--output", str(out), "--quiet"])
        == 0
    )
    with uproot.open(out) as f:
        assert f["Events"].num_entries == 3


def test_a_truncated_lhe_file_is_refused_naming_the_last_complete_event(data_dir, tmp_path, capsys):
    """Guards against issue 12 §7: a plain LHE file cut mid-event was showered silently
    (exit 0, 5 of 50 events written)."""
    from evenet.cli import main
    from evenet.generation.lhe import check_complete

    full = data_dir / "pylhe-testfile-powheg-box-v2-hvq.lhe"
    text = full.read_text()
    assert check_complete(full) == text.count("</event>")
    cut = text.index("</event>", text.index("</event>") + 1) + len("</event>") + 40
    truncated = tmp_path / "cut.lhe"
    truncated.write_text(text[:cut])
    out = tmp_path / "cut.root"
    code = main(["generate", "--lhe", str(truncated), "--events", "50", "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "truncated: it ends inside event 3" in err
    assert "last complete event is number 2" in err and not out.exists()
