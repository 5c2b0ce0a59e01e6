"""The inputs of a real CMS Open Data sample (config `cms_data`): its NanoAOD file list and its
certified-luminosity (golden) JSON, written once per entry so that the skim jobs read local
files.

* Files: the entry's `files`, or, when empty, the record's file locations as the CERN Open
  Data client lists them (`cernopendata-client get-file-locations --recid R --protocol
  xrootd`; install it with `pip install cernopendata-client`).
* Golden JSON: copied from a local path or downloaded from a URL, and checked to be the
  run -> [[first, last], ...] mapping LumiMask reads.

Both outputs are written to temporary names and renamed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from evenet.errors import EvenetError
from evenet.io.results import write_json, write_text

CLIENT = "cernopendata-client"
TIMEOUT_S = 600


class CmsInputError(EvenetError, RuntimeError):
    """The file list or the golden JSON cannot be obtained."""


def resolve_files(record: int, files: Sequence[str], client: str = CLIENT) -> list[str]:
    """The NanoAOD files of a record: ``files`` when given, else the client's listing."""
    if files:
        return list(files)
    executable = shutil.which(client)
    if executable is None:
        raise CmsInputError(
            f"cms_data lists no files for record {record} and `{client}` is not installed: "
            f"pip install {client}, or list the files in cms_data.<name>.files"
        )
    command = [executable, "get-file-locations", "--recid", str(record), "--protocol", "xrootd"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CmsInputError(f"`{' '.join(command)}` did not answer in {TIMEOUT_S} s") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise CmsInputError(f"`{' '.join(command)}` failed ({result.returncode}): {last}")
    listed = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    roots = [line for line in listed if line.endswith(".root")]
    if not roots:
        raise CmsInputError(f"record {record} lists no .root files ({len(listed)} lines)")
    return roots


def read_golden(source: str) -> dict:
    """The golden JSON from a local path or an http(s) URL, checked."""
    try:
        if source.startswith(("http://", "https://")):
            with urllib.request.urlopen(source, timeout=60) as response:  # noqa: S310
                text = response.read().decode()
        else:
            text = Path(source).read_text()
    except OSError as error:
        raise CmsInputError(f"cannot read the golden JSON {source}: {error}") from None
    try:
        golden = json.loads(text)
    except json.JSONDecodeError as error:
        raise CmsInputError(f"the golden JSON {source} is not JSON: {error}") from None
    valid = isinstance(golden, dict) and all(
        str(run).isdigit()
        and isinstance(ranges, list)
        and all(isinstance(r, list) and len(r) == 2 for r in ranges)
        for run, ranges in golden.items()
    )
    if not valid or not golden:
        raise CmsInputError(
            f"{source} is not a golden JSON (run -> [[first, last], ...] luminosity sections)"
        )
    return golden


def write_inputs(options: dict, files_output, golden_output) -> list[str]:
    """Resolve and write one cms_data entry's file list (one per line) and golden JSON."""
    missing = [key for key in ("record", "golden_json") if key not in options]
    if missing:
        raise CmsInputError(f"the cms_data entry lacks {', '.join(missing)} (got {options})")
    golden = read_golden(options["golden_json"])
    files = resolve_files(options["record"], options.get("files") or [])
    write_json(golden_output, golden)
    write_text(files_output, "\n".join(files) + "\n")
    return files


def read_file_list(path) -> list[str]:
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
