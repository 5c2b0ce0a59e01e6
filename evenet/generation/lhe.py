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


def check_complete(path: Path, name: Path | None = None) -> int:
    """The number of events of a plain LHE file; LHEError if it ends inside an event or
    without its closing </LesHouchesEvents> tag (a truncated copy or download), naming the
    last complete event. One pass over the lines, as Pythia's own read."""
    events, open_event, closed = 0, False, False
    with open(path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            tag = line.lstrip()
            if tag.startswith("<event"):
                open_event = True
            elif tag.startswith("</event>"):
                events, open_event = events + 1, False
            elif tag.startswith("</LesHouchesEvents>"):
                closed = True
    if open_event or not closed:
        where = "inside event " + str(events + 1) if open_event else "after the last event"
        raise LHEError(
            f"LHE file {name or path} is truncated: it ends {where}, without "
            f"</LesHouchesEvents> (the last complete event is number {events}); "
            "copy or download it again"
        )
    return events


@contextmanager
def readable_lhe(path: Path | None):
    """Yield a plain-text path Pythia can read; .gz files are decompressed to a temp dir.

    (Pythia reads gzip only when built with zlib, which the PyPI wheel may not be.)
    """
    if path is None:
        yield path
        return
    if path.suffix != ".gz":
        check_complete(path)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="evenet-lhe-") as tmp:
        plain = Path(tmp) / path.with_suffix("").name
        try:
            with gzip.open(path, "rb") as source, open(plain, "wb") as target:
                shutil.copyfileobj(source, target)
        except (OSError, EOFError) as error:
            raise LHEError(f"cannot decompress LHE file {path}: {error}") from None
        check_complete(plain, name=path)
        yield plain
