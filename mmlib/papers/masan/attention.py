"""MASAN's feature fusion network: region self-attention (Eqs. 3-5) and T1-guided fusion (Fig. 2, Eq. 6).

**Region self-attention** (:class:`RegionSelfAttention`). The regions' features
``(B, C, R)`` (one vector per patch of the grid) give ``query_i``, ``key_i``,
``value_i`` through convolution layers W(q), W(k), W(v) (1x1 convs over the
regions, Eq. 3); ``weight_ij = softmax_j(query_i . key_j)`` (Eq. 4) and
``new_region_i = sum_j weight_ij value_j`` (Eq. 5). The paper's softmax has no
``1/sqrt(d)`` scale and none is added. One choice the paper leaves open: the
output is ``region_i + gamma * new_region_i`` with ``gamma`` starting at 0
(``residual=True``, as in SAGAN and DANet), so a region keeps its own features
and the module starts as the identity; ``residual=False`` returns Eq. 5 alone.

**T1-guided fusion** (:class:`T1GuidedFusion`). Fig. 2: the T1 features pass
through channel attention (global max pooling over space, "Qmax", then a
two-layer bottleneck and a sigmoid: what is significant) and spatial attention
(max pooling over channels, "Pmax", then a 3^d conv over the region grid and a
sigmoid: where), computed from T1 alone, which reweight the fMRI features. The
garbled Eq. 6 is read as

    fused = f_T1 (+) (Attention_c(f_T1) (x) Attention_s(f_T1) (x) f_fMRI)

with (+) element-wise addition and (x) element-wise multiplication (broadcast
over the grid and the channels). ``fusion="add"`` is Fig. 3's comparison,
``fused = f_T1 + f_fMRI``. MASAN applies one module per level of the
multi-scale features (Sec. 2.2: "at each level of the feature fusion network").
The channel bottleneck (ratio 4) and the 3^d kernel are this book's choices
(CBAM's defaults are 16 and 7^2, too large for 16 channels on a 4x4x4 grid).
Hand-written: neither torch nor MONAI ships these modules.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from mmlib.errors import DataError, ParameterError

FUSIONS = ("attention", "add")
_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


class RegionSelfAttention(nn.Module):
    """Eqs. 3-5 over ``R`` regions: ``forward(regions (B, C, R))`` -> ``(out (B, C, R), weight (B, R, R))``."""

    def __init__(self, channels: int, inner: int | None = None, residual: bool = True):
        super().__init__()
        inner = inner or max(1, channels // 2)
        self.query = nn.Conv1d(channels, inner, 1)
        self.key = nn.Conv1d(channels, inner, 1)
        self.value = nn.Conv1d(channels, channels, 1)
        self.residual = residual
        self.gamma = nn.Parameter(torch.zeros(1)) if residual else None

    def forward(self, regions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if regions.ndim != 3:
            raise DataError("region features", f"shape {tuple(regions.shape)} is not (batch, channels, regions)")
        q, k, v = self.query(regions), self.key(regions), self.value(regions)
        weight = torch.softmax(torch.einsum("bci,bcj->bij", q, k), dim=-1)  # Eq. 4, softmax over j
        new = torch.einsum("bij,bcj->bci", weight, v)  # Eq. 5
        return (regions + self.gamma * new if self.residual else new), weight


class T1GuidedFusion(nn.Module):
    """Fig. 2 / Eq. 6 on a region grid: fMRI features reweighted by attention computed from the T1 features.

    ``forward(t1, fmri)`` takes two ``(B, C, R)`` region tensors (``R = prod(grid)``)
    and returns ``(fused (B, C, R), maps)`` where ``maps`` holds ``"channel"``
    ``(B, C)`` and ``"spatial"`` ``(B, R)`` weights in (0, 1) (empty for ``"add"``).
    """

    def __init__(self, channels: int, grid: Sequence[int], fusion: str = "attention", reduction: int = 4):
        super().__init__()
        if fusion not in FUSIONS:
            raise ParameterError(f"fusion={fusion!r} must be one of {FUSIONS}")
        self.fusion, self.grid = fusion, tuple(int(g) for g in grid)
        if len(self.grid) not in _CONV:
            raise ParameterError(f"grid={grid} must have 1, 2 or 3 axes")
        if fusion == "attention":
            hidden = max(1, channels // reduction)
            self.channel_mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
            self.spatial_conv = _CONV[len(self.grid)](1, 1, 3, padding=1)

    def forward(self, t1: torch.Tensor, fmri: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if t1.shape != fmri.shape or t1.ndim != 3 or t1.shape[2] != int(np.prod(self.grid)):
            raise DataError("fusion input", f"T1 {tuple(t1.shape)} and fMRI {tuple(fmri.shape)} region features must "
                                            f"both be (batch, channels, {int(np.prod(self.grid))})")
        if self.fusion == "add":
            return t1 + fmri, {}
        channel = torch.sigmoid(self.channel_mlp(t1.amax(dim=2)))  # Qmax: global max pooling over space
        pooled = t1.amax(dim=1, keepdim=True).reshape(t1.shape[0], 1, *self.grid)  # Pmax: max over channels
        spatial = torch.sigmoid(self.spatial_conv(pooled)).reshape(t1.shape[0], -1)
        fused = t1 + channel[:, :, None] * spatial[:, None, :] * fmri
        return fused, {"channel": channel, "spatial": spatial}
