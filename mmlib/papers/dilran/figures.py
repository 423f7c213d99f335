"""Fusion figures: a row of grey images (sources and fused results) with a zoomed inset in each.

The layout of the DILRAN paper's Figs. 2-3: the two source images, then one fused image per
method, each with the same region enlarged so fine edges can be compared. Hand-written on
matplotlib's ``inset_axes`` (no imaging library draws this panel).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from mmlib.errors import ParameterError


def fusion_panel(
    images: Mapping[str, np.ndarray],
    zoom: tuple[int, int, int] | None = None,
    *,
    ncols: int | None = None,
    inset_scale: float = 0.42,
    title: str | None = None,
    panel_size: float = 2.6,
) -> plt.Figure:
    """Grey images in [0, 1] side by side, titled by their keys, each with a zoomed inset.

    ``zoom = (top, left, size)`` marks a ``size x size`` box (drawn in gold) whose
    enlargement sits in the lower-right corner of every panel; ``None`` draws no inset.
    All images must share one shape. Returns the figure (not shown).
    """
    if not images:
        raise ParameterError("fusion_panel needs at least one image")
    shapes = {np.asarray(im).shape for im in images.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ParameterError(f"fusion_panel needs 2-D images of one shape; got shapes {sorted(shapes)}")
    height, width = next(iter(shapes))
    if zoom is not None:
        top, left, size = zoom
        if size < 2 or top < 0 or left < 0 or top + size > height or left + size > width:
            raise ParameterError(f"zoom box {zoom} does not fit in {height} x {width} images")
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, (panel_size + 0.3) * nrows + 0.4),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, image) in zip(axes.flat, images.items()):
        ax.imshow(np.asarray(image), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        if zoom is not None:
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), size, size, fill=False, edgecolor="gold", linewidth=1.2))
            inset = ax.inset_axes([1 - inset_scale, 0.0, inset_scale, inset_scale])
            inset.imshow(np.asarray(image)[top : top + size, left : left + size], cmap="gray", vmin=0.0, vmax=1.0,
                         interpolation="nearest")
            inset.set_xticks([])
            inset.set_yticks([])
            for spine in inset.spines.values():
                spine.set_edgecolor("gold")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
