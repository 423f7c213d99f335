"""MyST notebook pages written by the tests (a chapter for the fold runner, a page for a book build)."""

from __future__ import annotations

#: The front matter that makes a MyST markdown file a notebook for jupytext and Jupyter Book (Python 3 kernel).
FRONT_MATTER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def myst_page(body: str) -> str:
    """``body`` (markdown with ``{code-cell}`` blocks) after :data:`FRONT_MATTER`."""
    return FRONT_MATTER + body
