"""`evenet generate` and `evenet bench`: bad input gives one clear line, never a traceback,
and nothing already written is lost."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import uproot

from evenet.cli import main


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("evenet: error: ")
    return err[0]


def _run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse
        code = stop.code
    return code


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--process", "no_such_process", "--events", "5"], "unknown process 'no_such_process'"),
        (["--process", "ttbar_dilepton", "--events", "0"], "positive integer"),
        (["--process", "ttbar_dilepton", "--events", "-3"], "positive integer"),
        (["--lhe", "/no/such/file.lhe", "--events", "5"], "does not exist"),
        (["--events", "5"], "give --process"),
        (["--process", "ttbar_dilepton", "--events", "5", "--seed", "999999999999"], "at most"),
    ],
)
def test_bad_arguments_give_one_error_line(argv, says, capsys, tmp_path):
    code = _run(["generate", *argv, "--output", str(tmp_path / "out.root")], capsys)
    assert code == 2
    assert says in _error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_missing_output_directory(capsys, tmp_path):
    out = tmp_path / "missing" / "out.root"
    assert (
        _run(
            ["generate", "--process", "ttbar_dilepton", "--events", "5", "--output", str(out)],
            capsys,
        )
        == 2
    )
    assert "does not exist" in _error_line(capsys)


def test_file_that_is_not_lhe(capsys, tmp_path):
    fake = tmp_path / "fake.lhe"
    fake.write_text("this is not a Les Houches file\n")
    code = _run(
        ["generate", "--lhe", str(fake), "--events", "5", "--output", str(tmp_path / "o.root")],
        capsys,
    )
    assert code == 2
    assert "not an LHE file" in _error_line(capsys)


def test_unknown_config_key_is_named(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("detector:\n  jets:\n    radus: 0.4\n")
    from evenet.config import default_config_path

    code = _run(
        [
            "generate",
            "--process",
            "ttbar_dilepton",
            "--events",
            "5",
            "--output",
            str(tmp_path / "o.root"),
            "--config",
            str(default_config_path()),
            str(bad),
        ],
        capsys,
    )
    assert code == 2
    assert "radus" in capsys.readouterr().err


def test_failed_run_keeps_the_existing_output(capsys, tmp_path):
    """A Pythia setting that fails at init must not clobber a previous good file."""
    catalogue = tmp_path / "processes.yaml"
    catalogue.write_text(
        "processes:\n  broken:\n    id: 99\n"
        "    settings: ['Top:gg2ttbar = on', 'NoSuchGroup:noSuchFlag = on']\n"
    )
    out = tmp_path / "out.root"
    out.write_bytes(b"previous good content")
    code = _run(
        [
            "generate",
            "--process",
            "broken",
            "--catalogue",
            str(catalogue),
            "--events",
            "5",
            "--output",
            str(out),
        ],
        capsys,
    )
    assert code == 2
    assert "NoSuchGroup:noSuchFlag" in _error_line(capsys)
    assert out.read_bytes() == b"previous good content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.root", "processes.yaml"]


def test_generate_writes_a_readable_file_and_reports_progress(capsys, tmp_path):
    out = tmp_path / "tt.root"
    assert (
        main(
            [
                "generate",
                "--process",
                "ttbar_dilepton",
                "--events",
                "20",
                "--seed",
                "4",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "20/20 events" in err and "ev/s" in err
    with uproot.open(out) as f:
        assert f["Events"].num_entries == 20


def test_bench_generate_prints_one_json_object(tmp_path):
    """stdout must hold the JSON alone (fastjet's banner and Pythia's listings silenced)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "evenet.cli",
            "bench",
            "generate",
            "--process",
            "ttbar_dilepton",
            "--events",
            "30",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    record = json.loads(result.stdout)
    for key in ("bench", "device", "cpu_per_wall", "events_per_s", "pythia_events_per_s"):
        assert key in record
    assert record["bench"] == "generate" and record["events"] == 30
    assert record["events_per_s"] > 0 and record["pythia_events_per_s"] > 0


def test_bench_model_profile_into_a_missing_folder_is_refused_up_front(tmp_path, capsys):
    """Guards against a whole benchmark running only to end in a traceback on the write."""
    target = tmp_path / "missing" / "profile.txt"
    code = _run(["bench", "model", "--preset", "tiny", "--profile", str(target)], capsys)
    assert code == 2 and "folder does not exist" in capsys.readouterr().err


def test_every_error_class_derives_from_evenet_error():
    """Guards against a user-facing error the CLI would print as a traceback: every
    `*Error` class defined in the package is an EvenetError."""
    import importlib
    import inspect
    import pkgutil

    import evenet
    from evenet.errors import EvenetError

    found = []
    for info in pkgutil.walk_packages(evenet.__path__, "evenet."):
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == info.name and name.endswith("Error"):
                found.append(cls)
                assert issubclass(cls, EvenetError), f"{info.name}.{name}"
    assert len(found) >= 10


def test_the_command_line_starts_without_torch_or_the_generation_stack():
    """Every command module registers its parser without importing torch, uproot or Pythia
    (a training node need not install the generation stack, and --help stays fast)."""
    code = (
        "import sys; from evenet.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'uproot', 'pythia8mc', 'awkward') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_each_command_module_registers_its_commands():
    from evenet.cli import build_parser
    from evenet.commands import COMMAND_MODULES

    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices
    assert set(choices) == {
        "generate",
        "convert",
        "dataset",
        "stats",
        "skim-dimuon",
        "cms-inputs",
        "model",
        "pretrain",
        "finetune",
        "predict",
        "sample",
        "bumphunt",
        "bench",
        "report",
    }
    assert all(choices[c].get_default("handler") for c in choices if c != "bench")
    assert len(COMMAND_MODULES) == 8


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    """`evenet ... --json | head` printed a BrokenPipeError traceback. `true` closes the pipe
    before the command writes (it runs ~1 s first), so the write always meets a closed pipe."""
    from pathlib import Path

    data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    command = (
        f"{sys.executable} -m evenet.cli bumphunt --input {data / 'dimuon_2016H_masses.csv'} "
        "--column mass_gev --sr 9 10.6 --sb 7.8 15 --json | true"
    )
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
