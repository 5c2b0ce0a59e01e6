"""The decay topologies (config/topologies.yaml): physics the targets rely on."""

from __future__ import annotations

from evenet.io.topologies import load_topologies


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
