"""A MyST-style admonition box from a code cell, for messages that depend on the data.

A results chapter says in a box whether its reference run is committed, which
only a code cell can know. MyST's ``{admonition}`` directive is static, so this
emits the same HTML classes (hand-written: a two-line helper, no library has it).
"""

from __future__ import annotations

import html

from IPython.display import HTML, display


def admonition(kind: str, title: str, text: str) -> None:
    """Display a box of class ``kind`` ("note", "warning", ...) with ``title`` and ``text``.

    ``title`` is escaped; ``text`` is HTML (escape any data in it with :func:`html.escape`).
    """
    display(HTML(f'<div class="admonition {kind}"><p class="admonition-title">{html.escape(title)}</p>'
                 f"<p>{text}</p></div>"))
