"""External Les Houches Event files: checks and transparent decompression."""

from __future__ import annotations

import gzip
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from evenet.errors import EvenetError


class LHEError(EvenetError, ValueError):
    """The LHE file is missing, unreadable or not an LHE file."""


def _head(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", errors="replace") as stream:
            return stream.read(4096)
    except (OSError, EOFError) as error:
        raise LHEError(f"cannot read LHE file {path}: {error}") from None


def check_lhe(path: str | Path) -> Path:
    """The path, once it is a readable file that looks like LHE (has <LesHouchesEvents)."""
    path = Path(path)
    if not path.is_file():
        raise LHEError(f"LHE file {path} does not exist")
    if "<LesHouchesEvents" not in _head(path):
        raise LHEError(f"{path} is not an LHE file (no <LesHouchesEvents> tag at its start)")
    return path


@contextmanager
def readable_lhe(path: Path | None):
    """Yield a plain-text path Pythia can read; .gz files are decompressed to a temp dir.

    (Pythia reads gzip only when built with zlib, which the PyPI wheel may not be.)
    """
    if path is None or path.suffix != ".gz":
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="evenet-lhe-") as tmp:
        plain = Path(tmp) / path.with_suffix("").name
        try:
            with gzip.open(path, "rb") as source, open(plain, "wb") as target:
                shutil.copyfileobj(source, target)
        except (OSError, EOFError) as error:
            raise LHEError(f"cannot decompress LHE file {path}: {error}") from None
        yield plain
