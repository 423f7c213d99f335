"""Every chapter is a MyST .md paired with an output-free .ipynb, listed in the TOC, in the book's shape."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import jupytext
import pytest
import yaml

from mmlib.config import REPO_ROOT

BOOK = REPO_ROOT / "book"
CHAPTERS = sorted(p for p in BOOK.rglob("*.md") if "_build" not in p.parts)
REQUIRED_SECTIONS = ["## Overview", "## Prerequisites", "## Imports", "## Summary"]
TRAINING_PARAMETERS = {"data_root", "dataset", "fold", "n_folds", "max_epochs", "seed", "device"}


def _ids(paths):
    return [str(p.relative_to(BOOK)) for p in paths]


def _toc_files() -> set[str]:
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    files = {toc["root"]}
    stack = list(toc.get("parts", [])) + list(toc.get("chapters", []))
    while stack:
        entry = stack.pop()
        if "file" in entry:
            files.add(entry["file"])
        stack += entry.get("chapters", []) + entry.get("sections", [])
    return files


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_chapters():
    assert len(CHAPTERS) >= 3


def test_toc_and_chapter_files_agree():
    on_disk = {str(p.relative_to(REPO_ROOT).with_suffix("")) for p in CHAPTERS}
    assert _toc_files() == on_disk


@pytest.mark.parametrize("md", CHAPTERS, ids=_ids(CHAPTERS))
def test_pair_exists_has_no_outputs_and_is_in_sync(md: Path):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{md} has no paired notebook: run jupytext --sync {md}"
    raw = json.loads(ipynb.read_text())
    dirty = [i for i, c in enumerate(raw["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{ipynb} carries outputs in cells {dirty}: strip them"
    from_md, from_nb = jupytext.read(md), jupytext.read(ipynb)
    pairs = list(zip(from_md.cells, from_nb.cells))
    assert len(from_md.cells) == len(from_nb.cells), f"{md} and {ipynb} differ in cell count: jupytext --sync"
    for i, (a, b) in enumerate(pairs):
        assert (a.cell_type, a.source.strip()) == (b.cell_type, b.source.strip()), (
            f"cell {i} of {md} differs from {ipynb}: run jupytext --sync {md}"
        )
        assert a.metadata.get("tags", []) == b.metadata.get("tags", []), f"cell {i} tags differ"


@pytest.mark.parametrize("md", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_shape(md: Path):
    text = md.read_text()
    positions = [text.find("\n" + s) for s in REQUIRED_SECTIONS]
    missing = [s for s, p in zip(REQUIRED_SECTIONS, positions) if p < 0]
    assert not missing, f"{md} lacks sections {missing}"
    assert positions == sorted(positions), f"{md}: sections out of order (want {REQUIRED_SECTIONS})"
    nb = jupytext.read(md)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{md}: kernelspec python3 missing"
    code = _code_cells(nb)
    assert code, f"{md} has no code cell"
    assert "parameters" in code[0].metadata.get("tags", []), f"{md}: first code cell must be tagged 'parameters'"
    assigned = {
        t.id for node in ast.parse(code[0].source).body
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else [])
        if isinstance(t, ast.Name)
    }
    if "max_epochs" in assigned:
        assert TRAINING_PARAMETERS <= assigned, f"{md}: training chapter lacks parameters {TRAINING_PARAMETERS - assigned}"
    # the metadata must also round-trip: nbmake reads the smoke sizes from the .ipynb
    assert code[0].metadata.get("nbmake") == _code_cells(jupytext.read(md.with_suffix(".ipynb")))[0].metadata.get("nbmake")
    smoke = code[0].metadata.get("nbmake", {}).get("mock", {})
    unknown = set(smoke) - assigned
    assert not unknown, f"{md}: smoke sizes {sorted(unknown)} are not parameters of the chapter"


PAPER_CHAPTERS = [md for md in CHAPTERS if md.parent.name not in ("foundations",) and md.parent != BOOK]


@pytest.mark.parametrize("md", PAPER_CHAPTERS, ids=_ids(PAPER_CHAPTERS))
def test_paper_chapters_define_no_functions(md: Path):
    """A paper chapter is parameters, narration, calls and plots: its logic lives in tested mmlib functions."""
    defined = [node.name for cell in _code_cells(jupytext.read(md)) if "parameters" not in cell.metadata.get("tags", [])
               for node in ast.walk(ast.parse(cell.source)) if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert not defined, f"{md} defines {defined}: move them into the paper's package and test them there"
