"""What every stage script's `main` shares: a failure the user can fix (bad input, a missing
file, an inconsistent plan) is one line naming the stage, and the exit status is 1."""

from __future__ import annotations

import sys
from collections.abc import Callable

from evenet.errors import EvenetError

STAGE_ERRORS = (EvenetError, ValueError, KeyError, OSError)


def run_stage(label: str, call: Callable[[], object]) -> int:
    try:
        call()
    except STAGE_ERRORS as error:
        print(f"{label}: {error}", file=sys.stderr)
        return 1
    return 0
