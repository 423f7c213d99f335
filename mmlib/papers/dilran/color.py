"""Colour (PET-MRI) fusion through the luminance channel (DILRAN paper, Sec. 4, "Future Work").

The DILRAN paper fuses grey CT with grey MR and names colour PET-MRI fusion as future
work. The usual route in medical image fusion (also the one of the zero-learning
baseline of Table 2, NOTES.md) is: convert the colour image to YCbCr, fuse its
luminance Y with the grey image by any grey-image fusion method, keep the colour
channels Cb and Cr, and convert back. The colour conversions are
:func:`mmlib.data.io.rgb_to_ycbcr` / :func:`~mmlib.data.io.ycbcr_to_rgb` (scikit-image);
only the recombination is written here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from mmlib.data.io import rgb_to_ycbcr, ycbcr_to_rgb
from mmlib.errors import DataError


def fuse_rgb_with_grey(
    fuse_fn: Callable[[np.ndarray, np.ndarray], np.ndarray | torch.Tensor], rgb: np.ndarray, grey: np.ndarray
) -> np.ndarray:
    """Fuse a colour image ``rgb`` ``(H, W, 3)`` with a grey image ``grey`` ``(H, W)``, both in [0, 1].

    ``fuse_fn(y, grey)`` receives the luminance Y of ``rgb`` and ``grey`` as ``(H, W)``
    float32 arrays and returns the fused luminance (any array or tensor holding H x W
    values, e.g. ``lambda a, b: fuse_pair(model, a, b, "sfnn-max")``). The result is
    ``ycbcr_to_rgb([fused Y, Cb, Cr])``, ``(H, W, 3)`` float32 in [0, 1]: where the new
    luminance with the old chroma leaves the RGB gamut, the RGB values are clipped.

    Raises
    ------
    DataError
        Wrong shapes (a grey image given as ``rgb`` or the reverse), sizes that differ,
        values outside [0, 1] or non-finite, or a fused Y of the wrong size or non-finite.
    """
    rgb, grey = np.asarray(rgb, dtype=np.float32), np.asarray(grey, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise DataError("colour image", f"expected an (H, W, 3) RGB image, got shape {rgb.shape}")
    if grey.ndim != 2:
        raise DataError("grey image", f"expected an (H, W) greyscale image, got shape {grey.shape}")
    if rgb.shape[:2] != grey.shape:
        raise DataError("colour/grey pair", f"sizes differ: colour {rgb.shape[:2]} vs grey {grey.shape}")
    for name, image in (("colour image", rgb), ("grey image", grey)):
        if not np.isfinite(image).all() or image.min() < 0.0 or image.max() > 1.0:
            raise DataError(name, "values must be finite and lie in [0, 1]")

    ycbcr = rgb_to_ycbcr(rgb)
    fused = fuse_fn(np.ascontiguousarray(ycbcr[..., 0]), grey)
    fused = fused.detach().cpu().numpy() if isinstance(fused, torch.Tensor) else np.asarray(fused)
    if fused.size != grey.size:
        raise DataError("fused luminance", f"fuse_fn returned shape {fused.shape}, expected {grey.shape}")
    fused = fused.reshape(grey.shape).astype(np.float32)
    if not np.isfinite(fused).all():
        raise DataError("fused luminance", "fuse_fn returned NaN or infinite values")
    ycbcr[..., 0] = fused
    return ycbcr_to_rgb(ycbcr)
