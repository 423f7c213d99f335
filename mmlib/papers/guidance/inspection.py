"""Measurements on the guidance paper's networks that ``book/guidance/method.md`` shows.

* :func:`block_shapes`: the output shape of every RMC block, the pooling and the
  head (paper Table I), recorded with forward hooks (works on the ``meta``
  device, so the paper's input size costs nothing).
* :func:`attention_megabytes`: the memory of one volume's position-attention
  maps, per slice (this book's default) and over the whole volume (Sec. III-B).
* :func:`copy_differences`: how far each secondary branch's blocks are from the
  primary SFE blocks they were copied from (Algorithm 1 lines 7-10).

Hand-written: plain torch hooks and arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from mmlib.errors import ParameterError
from mmlib.papers.guidance.model import GuidanceModel
from mmlib.papers.guidance.rmc import BLOCK_NAMES, RMC


def block_shapes(model: RMC, x: torch.Tensor) -> list[tuple[int, ...]]:
    """Output shape of every block of ``model`` (:data:`~mmlib.papers.guidance.rmc.BLOCK_NAMES`), its pooling and head."""
    shapes: dict[str, tuple[int, ...]] = {}
    names = (*BLOCK_NAMES, "avgpool", "fc")
    hooks = [getattr(model, n).register_forward_hook(lambda mod, args, out, n=n: shapes.__setitem__(n, tuple(out.shape)))
             for n in names]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return [shapes[n] for n in names]


def attention_megabytes(features_shape: Sequence[int]) -> dict[str, float]:
    """float32 megabytes of one volume's position maps for features ``(B, C, D, H, W)``.

    ``"hw"`` attends within each slice, D maps of (HW)^2; ``"dhw"`` over the
    whole volume, one (DHW)^2 map.
    """
    if len(features_shape) != 5:
        raise ParameterError(f"features_shape must be (B, C, D, H, W), got {tuple(features_shape)}")
    d, h, w = features_shape[2:]
    return {"hw: D (HW)^2": d * (h * w) ** 2 * 4 / 2**20, "dhw: (DHW)^2": (d * h * w) ** 2 * 4 / 2**20}


def copy_differences(model: GuidanceModel) -> pd.Series:
    """Largest |parameter difference| between each branch's LFE / HFE and the primary SFE blocks they copy."""
    rows = {}
    for m, branch in model.branches.items():
        pairs = list(zip(list(branch.lfe) + list(branch.hfe), model.primary.blocks))
        for part, chunk in (("LFE vs blocks 1-3", pairs[:3]), ("HFE vs blocks 4-5", pairs[3:])):
            rows[(m, part)] = max((a - b).abs().max().item() for dst, src in chunk
                                  for a, b in zip(dst.parameters(), src.parameters()))
    return pd.Series(rows)
