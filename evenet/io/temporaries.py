"""Temporary names beside an output, and the cleanup of those an interrupted run left.

Every writer puts its output under a hidden name beside the final one, ``.NAME.PID.tmp`` (a
file or a staging folder; ``.NAME.PID.old`` for a replaced output, ``.NAME.PID.partK.tmp`` for
per-worker parts), and renames it into place when complete. A killed process cannot remove
them, so the next writer of the same output removes those whose process is gone.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path


def temporary(path: str | os.PathLike, suffix: str = "tmp") -> Path:
    """This process's hidden temporary name for ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{suffix}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of ``path`` left by processes that no longer run; returns them."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.(tmp|old|part\d+\.tmp)$")
    removed = []
    for candidate in path.parent.iterdir():
        match = pattern.match(candidate.name)
        if match is None or _alive(int(match.group(1))):
            continue
        if candidate.is_dir() and not candidate.is_symlink():
            shutil.rmtree(candidate, ignore_errors=True)
        else:
            candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return removed
