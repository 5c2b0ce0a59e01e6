"""The decay topologies (config/topologies.yaml): physics the targets rely on."""

from __future__ import annotations

import pytest

from evenet.io.topologies import (
    DEFAULT_TOPOLOGIES,
    TopologyError,
    load_topologies,
    resonance_types,
)


def test_hadronic_w_daughters_are_symmetric():
    """Guards against issue 13 §3: the detector cannot tell q from q' of W -> qq', so a
    model must not be asked to order them (EveNet declares top_had SYMMETRY [q1, q2])."""
    checked = 0
    for topology in load_topologies().summary():
        groups = [set(g) for g in topology["symmetries"]["daughters"]]
        for daughters in topology["resonances"].values():
            quarks = [d for d in daughters if d.startswith("q")]
            if len(quarks) == 2:
                assert set(quarks) in groups, (topology["name"], quarks)
                checked += 1
    assert checked == 4  # semileptonic (1), hadronic (2), ttH (1)


def test_every_resonance_has_a_type_shared_across_topologies():
    """Guards issue 13 §4: segmentation classes are resonance types, so every top is `t` and
    the classes of a list of topologies do not depend on row order."""
    topologies = load_topologies().summary()
    for topology in topologies:
        assert list(topology["types"]) == list(topology["resonances"]), topology["name"]
    tops = {
        kind for t in topologies if t["name"].startswith("ttbar") for kind in t["types"].values()
    }
    assert tops == {"t"}
    assert resonance_types(topologies) == ["H", "W", "Y", "Z", "a", "t"]
    assert resonance_types(list(reversed(topologies))) == resonance_types(topologies)


def test_missing_or_partial_types_are_refused(tmp_path):
    """Guards against a topology whose resonances have no segmentation class."""
    text = DEFAULT_TOPOLOGIES.read_text().replace("types: {t1: t, t2: t}", "types: {t1: t}", 1)
    path = tmp_path / "topologies.yaml"
    path.write_text(text)
    with pytest.raises(TopologyError, match=r"ttbar_dilepton.*types.*\['t1', 't2'\]"):
        load_topologies(path)
    with pytest.raises(TopologyError, match="older than schema version 3"):
        resonance_types([{"name": "old", "resonances": {"t1": ["b1"]}}])
