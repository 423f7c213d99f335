"""Make plotly figures show up in the built book, fit its column, and keep their titles clear.

Inside a Jupyter kernel plotly 7 picks a renderer whose output only carries the
``application/vnd.plotly.v1+json`` mimetype, which myst-nb (Jupyter Book 1.x)
drops, so the figure vanishes from the HTML. ``"plotly_mimetype+notebook"``
adds a ``text/html`` output with plotly.js embedded inline (the book is built
without network, so no CDN), while JupyterLab still renders the mimetype.

The book's default template (:data:`BOOK_TEMPLATE`) leaves the width to the
page (figures set a height only, and plotly's ``responsive`` config resizes them
with the column), and puts the title just above the plot area, left-aligned,
under a top band where plotly's mode bar appears, so the two never overlap.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

#: The plotly renderer the book uses.
BOOK_RENDERER = "plotly_mimetype+notebook"
#: The book's default plotly template: plotly_white plus the layout described above.
BOOK_TEMPLATE = "plotly_white+mmlib_book"


def use_book_renderer() -> str:
    """Set the book's plotly renderer and default template; return the renderer's name."""
    pio.templates["mmlib_book"] = go.layout.Template(layout=dict(
        autosize=True,
        margin=dict(t=90),  # room for the mode bar (top ~30 px) above the title
        title=dict(x=0, xanchor="left", xref="paper", y=1, yanchor="bottom", yref="paper", pad=dict(b=14),
                   font=dict(size=14)),
    ))
    pio.templates.default = BOOK_TEMPLATE
    pio.renderers.default = BOOK_RENDERER
    pio.renderers["notebook"].config = {"responsive": True, "displaylogo": False}
    return pio.renderers.default
