"""Figures: plotly ROC curves, nilearn slice views and an interactive volume viewer.

Importing :mod:`mmlib.viz` sets the plotly renderer the book needs
(:func:`mmlib.viz.plotly_setup.use_book_renderer`).
"""

from mmlib.viz.plotly_setup import BOOK_RENDERER, use_book_renderer

use_book_renderer()

from mmlib.viz.brain import plot_class_examples, plot_modalities, plot_slices, volume_viewer  # noqa: E402
from mmlib.viz.roc import roc_figure  # noqa: E402

__all__ = [
    "plot_class_examples",
    "BOOK_RENDERER",
    "plot_modalities",
    "plot_slices",
    "roc_figure",
    "use_book_renderer",
    "volume_viewer",
]
