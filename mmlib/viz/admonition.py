"""MyST-style admonition boxes from a code cell, for messages that depend on the data or on code.

A results chapter says in a box whether its reference run is committed, which
only a code cell can know; a fold chapter's "Full scale" box is rendered from
the settings its paper package types once. MyST's ``{admonition}`` directive is
static, so this emits the same HTML classes (hand-written: no library has it).
"""

from __future__ import annotations

import html
import shlex
from typing import TYPE_CHECKING

from IPython.display import HTML, display

if TYPE_CHECKING:
    from mmlib.runs.full_scale import FullScale


def admonition(kind: str, title: str, text: str) -> None:
    """Display a box of class ``kind`` ("note", "warning", ...) with ``title`` and ``text``.

    ``title`` is escaped; ``text`` is HTML (escape any data in it with :func:`html.escape`).
    """
    display(HTML(f'<div class="admonition {kind}"><p class="admonition-title">{html.escape(title)}</p>'
                 f"<p>{text}</p></div>"))


def full_scale_box(full_scale: "FullScale") -> None:
    """The chapter's "Full scale" box: each parameter's CPU default beside the paper's value, and the command.

    ``full_scale`` is a :class:`mmlib.runs.full_scale.FullScale` from the
    paper's ``paper.py``, so the box and the tests read the same settings.
    """
    defaults = full_scale.defaults()
    rows = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td><code>{html.escape(repr(defaults.get(k)))}</code></td>"
                   f"<td><code>{html.escape(repr(v))}</code></td></tr>" for k, v in full_scale.settings.items())
    table = ("<table><thead><tr><th>parameter</th><th>this build (CPU)</th><th>full scale</th></tr></thead>"
             f"<tbody>{rows}</tbody></table>")
    note = f"<p>{full_scale.note}</p>" if full_scale.note else ""
    display(HTML(f'<div class="admonition tip"><p class="admonition-title">Full scale</p>'
                 f"<p>The paper's setting ({html.escape(full_scale.source)}), by parameters only:</p>{table}{note}"
                 f"<p>With the fold runner:</p><pre>{html.escape(wrap_command(full_scale.command()))}</pre></div>"))


def wrap_command(command: str, width: int = 80) -> str:
    """A long shell command broken between its options with `` \\`` continuations, lines of about ``width``."""
    words = shlex.split(command)
    pieces, i = [], 0
    while i < len(words):  # an option and its value stay together
        take = 2 if words[i].startswith("-") and i + 1 < len(words) and not words[i + 1].startswith("-") else 1
        pieces.append(" ".join(shlex.quote(w) for w in words[i:i + take]))
        i += take
    lines, current = [], ""
    for piece in pieces:
        if current and len(current) + 1 + len(piece) > width:
            lines.append(current)
            current = "  " + piece
        else:
            current = f"{current} {piece}" if current else piece
    return " \\\n".join(lines + [current])
