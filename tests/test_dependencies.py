"""Every third-party import is declared directly in pyproject.toml.

Guards against the bug where a fresh `pip install -e ".[dev]"` stopped at test collection:
scipy (tests) and pandas (evenet/io/tables.py) were importable only because they happened to
be on the machine, pandas as a dependency of the SLURM executor plugin.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("evenet", "analyses", "tests")
# Files that run only inside a separately pinned environment (e.g. SPANet's own), never
# imported by the package or the default test run. Paths relative to the repository root.
EXEMPT: frozenset[str] = frozenset()


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions(pyproject: Path = ROOT / "pyproject.toml") -> set[str]:
    """Distribution names listed in the core dependencies and every extra."""
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    return {_normalise(re.split(r"[\s<>=!~\[;@]", r, maxsplit=1)[0]) for r in requirements}


def _local_modules(root: Path) -> set[str]:
    """Top-level names importable from the checkout itself (packages, test helpers)."""
    names = {p.name for p in root.iterdir() if p.is_dir()}
    for folder in SCANNED:
        if (root / folder).exists():
            names |= {p.stem for p in (root / folder).rglob("*.py")}
    return names


def third_party_imports(root: Path = ROOT) -> dict[str, str]:
    """Top-level third-party module -> first `file:line` importing it (relative imports skipped)."""
    local = _local_modules(root)
    found: dict[str, str] = {}
    for folder in SCANNED:
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel in EXEMPT:
                continue
            for node in ast.walk(ast.parse(path.read_text(), rel)):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in sys.stdlib_module_names or top in local or top.startswith("_"):
                        continue
                    found.setdefault(top, f"{rel}:{node.lineno}")
    return found


def undeclared(imports: dict[str, str], declared: set[str]) -> list[str]:
    """Imports whose providing distribution is not declared directly."""
    providers = packages_distributions()
    problems = []
    for module, where in sorted(imports.items()):
        dists = {_normalise(d) for d in providers.get(module, [])}
        if not dists:
            problems.append(f"{module} ({where}): not installed; no declared package provides it")
        elif not dists & declared:
            problems.append(f"{module} ({where}): provided by {sorted(dists)}, none declared")
    return problems


def test_every_third_party_import_is_declared():
    problems = undeclared(third_party_imports(), declared_distributions())
    assert not problems, "declare these in pyproject.toml:\n" + "\n".join(problems)


def test_a_transitive_only_dependency_is_reported(tmp_path):
    """The check itself can fail: a module present only as another package's dependency."""
    (tmp_path / "evenet").mkdir()
    (tmp_path / "evenet" / "m.py").write_text("import yaml\nfrom jsonschema import validate\n")
    imports = third_party_imports(tmp_path)
    assert set(imports) == {"yaml", "jsonschema"}
    problems = undeclared(imports, {"pyyaml"})
    assert len(problems) == 1 and problems[0].startswith("jsonschema (evenet/m.py:2)")
