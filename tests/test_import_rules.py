"""The package layout's import rules (CONTRIBUTING.md, "Layout"), checked on every module's source.

* The shared layers come in one order: base (``mmlib``, ``errors``, ``atomic``,
  ``config``) < ``data`` < ``nets`` < ``eval`` < ``train`` < ``runs`` < ``viz``.
  A module imports only from its own layer and the layers before it.
* No shared layer imports a paper package (``mmlib.papers.*``).
* A paper package imports the shared layers and itself, never another paper.

Every ``import`` counts, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mmlib

PACKAGE = Path(mmlib.__file__).parent
LAYERS = ("base", "data", "nets", "eval", "train", "runs", "viz")
BASE = {"mmlib", "mmlib.errors", "mmlib.atomic", "mmlib.config"}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, package: Path = PACKAGE) -> set[str]:
    """The ``mmlib`` modules that ``path`` imports (``from mmlib.x import y`` counts as ``mmlib.x``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names
                      if (package.parent / f"{node.module}.{alias.name}".replace(".", "/")).exists()
                      or (package.parent / (f"{node.module}.{alias.name}".replace(".", "/") + ".py")).exists()}
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; write the absolute mmlib.* path")
    return {n for n in names if n == "mmlib" or n.startswith("mmlib.")}


def owner(module: str) -> tuple[str, str | None]:
    """``(layer, paper)`` of a module: ``("papers", "guidance")`` or ``("data", None)``."""
    if module in BASE:
        return "base", None
    parts = module.split(".")
    if parts[1] == "papers":
        return "papers", parts[2] if len(parts) > 2 else None
    if parts[1] not in LAYERS:
        raise AssertionError(f"{module}: not in a known layer {LAYERS} or mmlib.papers; add it to the rules")
    return parts[1], None


MODULES = sorted(PACKAGE.rglob("*.py"))


def violations(path: Path, package: Path = PACKAGE) -> list[str]:
    me = module_name(path, package)
    layer, paper = owner(me)
    found = []
    for other in sorted(imported_modules(path, package)):
        other_layer, other_paper = owner(other)
        if layer == "papers":
            if other_layer == "papers" and other_paper not in (None, paper):
                found.append(f"{me} imports {other}: papers never import each other")
        elif other_layer == "papers":
            found.append(f"{me} imports {other}: a shared layer never imports a paper")
        elif LAYERS.index(other_layer) > LAYERS.index(layer):
            found.append(f"{me} ({layer}) imports {other} ({other_layer}): a back-edge in {' < '.join(LAYERS)}")
    return found


def test_every_module_is_in_a_layer():
    assert len(MODULES) > 50
    for path in MODULES:
        owner(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_import_rules(path):
    assert violations(path) == []


def test_the_rules_catch_each_kind_of_edge(tmp_path):
    """The checker itself: each forbidden edge is reported (a rule that cannot fail is no rule)."""
    cases = {
        "eval/bad_back_edge.py": "from mmlib.train.loop import fit\n",
        "data/bad_paper.py": "import mmlib.papers.guidance.rmc\n",
        "papers/dilran/bad_cross.py": "def f():\n    from mmlib.papers.guidance.rmc import RMC\n",
    }
    fake = tmp_path / "mmlib"
    for rel, source in cases.items():
        (fake / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake / rel).write_text(source)
    reports = {rel: violations(fake / rel, fake) for rel in cases}
    assert "back-edge" in reports["eval/bad_back_edge.py"][0]
    assert "never imports a paper" in reports["data/bad_paper.py"][0]
    assert "never import each other" in reports["papers/dilran/bad_cross.py"][0]
