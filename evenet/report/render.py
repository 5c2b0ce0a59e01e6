"""The report as Markdown blocks and as one HTML page (markdown-it-py renders the Markdown).

A block is (id, markdown): index.md is the blocks joined; index.html renders each block into a
``<section id=...>`` so that a browser (and the report's test) finds every analysis by id. A
script in the page counts images that failed to load and shows a banner naming them.
"""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

_HEADING = re.compile(r"^(#{1,6})(\s)")
_FENCE = re.compile(r"^\s*(```|~~~)")

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #345; } h2 { border-bottom: 1px solid #aab; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eef; } tr:nth-child(even) td { background: #f8f8fc; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.3em 0; }
pre { background: #f4f4f8; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
code { background: #f4f4f8; }
section.analysis { border-left: 4px solid #468; padding-left: 1em; margin: 1.5em 0; }
#broken-images { background: #fdd; border: 2px solid #c33; padding: 0.6em; }
"""

# Counts the images that did not load (a missing or unreadable file) once the page has loaded;
# body[data-images] / body[data-broken-images] are what tests/test_report_browser.py reads.
SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !(img.complete && img.naturalWidth > 0); });
  document.body.setAttribute("data-images", String(images.length));
  document.body.setAttribute("data-broken-images", String(broken.length));
  if (broken.length) {
    var banner = document.createElement("div");
    banner.id = "broken-images";
    banner.textContent = broken.length + " image(s) failed to load: " +
      broken.map(function (img) { return img.getAttribute("src"); }).join(", ");
    document.body.insertBefore(banner, document.body.firstChild);
  }
});
"""


def demote_headings(markdown: str, levels: int) -> str:
    """Headings ``levels`` deeper (capped at h6), outside fenced code: a summary.md's "# Title"
    nests under the report's own heading of its analysis."""
    lines, fenced = [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := _HEADING.match(line)):
            depth = min(len(match.group(1)) + levels, 6)
            line = "#" * depth + line[len(match.group(1)) :]
        lines.append(line)
    return "\n".join(lines)


def table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table; cells have '|' escaped and newlines flattened."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(blocks: list[tuple[str, str]]) -> str:
    return "\n\n".join(text.strip() for _, text in blocks) + "\n"


def to_html(blocks: list[tuple[str, str]], title: str) -> str:
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    sections = []
    for block_id, text in blocks:
        css = ' class="analysis"' if block_id.startswith("analysis-") else ""
        sections.append(
            f'<section id="{html.escape(block_id)}"{css}>\n{renderer.render(text)}</section>'
        )
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n"
        f"<script>{SCRIPT}</script>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
