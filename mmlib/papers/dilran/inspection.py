"""Measurements on a DILRAN model that ``book/dilran/method.md`` shows (paper Sec. 2.2.1, Fig. 1b-c).

* :func:`footprint` and :func:`receptive_fields`: how far a single bright pixel moves the
  output of each path of the dilated stem (3x3 convolutions with dilation 1, 3, 5: 3x3,
  7x7 and 11x11 windows) and of the DILRAN block (one shared 3x3 convolution C applied
  once, twice and three times: 3x3, 5x5 and 7x7).
* :func:`repeated_block`: the DILRAN block as the authors' code writes it,
  ``x + gate(x) * (C(x) + C(C(x)) + C(C(C(x))))`` (six convolutions), to set beside
  :class:`mmlib.papers.dilran.model.PyramidAttentionBlock`, which chains C once (NOTES.md).

Hand-written: an impulse response, measured with plain torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mmlib.errors import ParameterError
from mmlib.papers.dilran.model import DILRAN, PyramidAttentionBlock, pool_gate


def footprint(fn: Callable[[torch.Tensor], torch.Tensor], channels: int, size: int = 31) -> int:
    """Width in pixels of the region where ``fn``'s output changes when one centre pixel is switched on.

    ``fn`` maps ``(1, channels, size, size)`` to a map of the same height and width; its
    response to the empty image (the biases) is subtracted. ``size`` must exceed the width.
    """
    if size < 3 or size % 2 == 0:
        raise ParameterError(f"size must be an odd number >= 3, got {size}")
    empty = torch.zeros(1, channels, size, size)
    impulse = empty.clone()
    impulse[:, :, size // 2, size // 2] = 1.0
    with torch.no_grad():
        changed = (fn(impulse) - fn(empty)).abs().amax(dim=(0, 1)) > 0
    cols = changed.any(dim=0).nonzero()
    if len(cols) == 0:
        return 0
    width = int(cols.max() - cols.min() + 1)
    if width >= size:
        raise ParameterError(f"the footprint fills the whole {size} x {size} input; measure with a larger size")
    return width


def receptive_fields(model: DILRAN) -> dict[str, int]:
    """The footprint of each stem branch and of the block's paths y1 = C(x), y2 = C(y1), y3 = C(y2)."""
    conv, channels = model.block.conv, model.block.conv.in_channels
    widths = {f"stem branch, dilation {b.dilation[0]}": footprint(b, b.in_channels) for b in model.dilated.branches}
    widths |= {
        "block path y1 = C(x)": footprint(conv, channels),
        "block path y2 = C(C(x))": footprint(lambda t: conv(conv(t)), channels),
        "block path y3 = C(C(C(x)))": footprint(lambda t: conv(conv(conv(t))), channels),
    }
    return widths


def repeated_block(block: PyramidAttentionBlock, x: torch.Tensor) -> torch.Tensor:
    """The DILRAN block as the authors' code evaluates it: C(x) three times and C(C(x)) twice."""
    c = block.conv
    return x + pool_gate(x) * (c(x) + c(c(x)) + c(c(c(x))))
