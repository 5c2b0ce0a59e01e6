"""Renders a page in headless Chromium (Debian's package `chromium`) and returns the DOM after
the page's load handlers ran: the report's script has then counted its broken images."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

INSTALL = "apt-get install chromium (Debian's package; /usr/bin/chromium)"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(f"the report's browser test needs Chromium: {INSTALL}")
    return found


def rendered_dom(page: Path) -> str:
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",  # tests run as root in containers
            "--disable-gpu",
            "--virtual-time-budget=15000",  # let every image load before the DOM is dumped
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def body_counts(dom: str) -> tuple[int, int]:
    """(images, broken images) as the page's script counted them."""
    body = re.search(r"<body[^>]*>", dom)
    assert body, "Chromium returned no <body>"
    images = re.search(r'data-images="(\d+)"', body.group(0))
    broken = re.search(r'data-broken-images="(\d+)"', body.group(0))
    assert images and broken, f"the page's load script did not run: {body.group(0)}"
    return int(images.group(1)), int(broken.group(1))


def section_ids(dom: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', dom)
