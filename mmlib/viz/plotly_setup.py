"""Make plotly figures show up in the built book.

Inside a Jupyter kernel plotly 7 picks a renderer whose output only carries the
``application/vnd.plotly.v1+json`` mimetype, which myst-nb (Jupyter Book 1.x)
drops, so the figure vanishes from the HTML. ``"plotly_mimetype+notebook"``
adds a ``text/html`` output with plotly.js embedded inline (the book is built
without network, so no CDN), while JupyterLab still renders the mimetype.
"""

from __future__ import annotations

import plotly.io as pio

#: The plotly renderer the book uses.
BOOK_RENDERER = "plotly_mimetype+notebook"


def use_book_renderer() -> str:
    """Set ``plotly.io.renderers.default`` to :data:`BOOK_RENDERER` and return it."""
    pio.renderers.default = BOOK_RENDERER
    return pio.renderers.default
