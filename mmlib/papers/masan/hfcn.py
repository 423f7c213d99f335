"""The H-FCN baseline of Table 2 (Lian et al., TPAMI 2018), T1 only, as the authors' Keras code builds it.

Layer list from ``NOTES.md`` and the public ``mxliu/HFCN_TPAMI`` code
(``no_prior/nhfcn_network.py``, the variant without landmark priors, with
``sharing_weights=True``):

* **Patch level.** One network shared by every patch (the Keras ``base_net``
  applied to each input): conv 4^d -> 32, conv 3^d -> 64, max-pool 2, conv 3^d
  -> 64, conv 3^d -> 128, max-pool 2, conv 3^d -> 128, conv 1^d -> 64 (ReLU
  after each, dropout at the end), then a linear unit with a sigmoid: one
  AD probability per patch. Patches are cubes of ``patch_size`` voxels (25^3 in
  the paper) centred on the cells of the patch grid
  (:func:`~mmlib.papers.masan.patches.centred_patches`).
* **Region level.** The patch probabilities and features, laid out on the patch
  grid, go through one conv with a 2^d kernel (regions of 2x2x2 neighbouring
  patches), ReLU and dropout, and a locally connected unit (its own weights
  per region) with a sigmoid: one probability per region.
* **Subject level.** Region probabilities and features go through one conv
  whose kernel covers the whole region grid, ReLU, dropout and a linear unit
  with a sigmoid: the subject's probability.
* **Loss.** Binary cross-entropy at all three levels against the subject's
  label, weighted 1:1:1 (NOTES.md).

Choices for the CPU grid, stated: the convolutions are "valid" as in the paper
when ``patch_size >= 25``; a smaller patch (8^3 on the 32x40x32 phantom grid)
would vanish under them, so they pad ("same") and the last feature map is
max-pooled to one voxel. Channel widths scale with ``width`` (1.0 = the
paper's). Without batch normalisation (the Keras default ``with_bn=False``).
The landmark-based patch selection and the network pruning of the full H-FCN
are not part of this baseline (the book's grid replaces the landmarks).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmlib.errors import ParameterError
from mmlib.papers.masan.patches import centred_patches, check_grid

#: Patch-level widths of the Keras code (``feature_depth``), region and subject features.
PAPER_DEPTHS = (32, 64, 64, 128, 128, 64)
PAPER_REGION_FEATURES, PAPER_SUBJECT_FEATURES = 64, 64
#: The paper's patch size.
PAPER_PATCH_SIZE = 25
_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_PAD = {1: nn.ConstantPad1d, 2: nn.ConstantPad2d, 3: nn.ConstantPad3d}


class HFCN(nn.Module):
    """nH-FCN on ``(B, C, *spatial)``: ``forward`` -> ``{"patch": (B, n), "region": (B, m), "subject": (B,)}`` logits."""

    def __init__(self, grid: Sequence[int] = (4, 4, 4), patch_size: int = PAPER_PATCH_SIZE, in_channels: int = 1,
                 width: float = 1.0, dropout: float = 0.5, batch_norm: bool = False):
        super().__init__()
        dims = len(grid)
        self.grid = check_grid(grid, dims)
        if min(self.grid) < 2:
            raise ParameterError(f"grid={self.grid}: regions of 2 neighbouring patches need at least 2 per axis")
        if patch_size < 4 or not width > 0:
            raise ParameterError(f"patch_size={patch_size} must be >= 4 and width={width} positive")
        self.patch_size, self.valid = int(patch_size), patch_size >= PAPER_PATCH_SIZE
        d = [max(2, int(round(c * width))) for c in PAPER_DEPTHS]
        conv, pool = _CONV[dims], _POOL[dims]

        def c(cin, cout, k):
            layers = [conv(cin, cout, k, padding=0 if self.valid else k // 2)] if self.valid or k % 2 else \
                [_PAD[dims]([(k - 1) // 2, k // 2] * dims, 0.0), conv(cin, cout, k)]  # "same", even kernel
            if batch_norm:  # the Keras code's with_bn option
                layers.append(_NORM[dims](cout))
            return nn.Sequential(*layers)

        self.patch_net = nn.Sequential(
            c(in_channels, d[0], 4), nn.ReLU(), c(d[0], d[1], 3), nn.ReLU(), pool(2),
            c(d[1], d[2], 3), nn.ReLU(), c(d[2], d[3], 3), nn.ReLU(), pool(2),
            c(d[3], d[4], 3), nn.ReLU(), c(d[4], d[5], 1), nn.ReLU(), nn.Dropout(dropout))
        self.patch_head = nn.Linear(d[5], 1)
        region_features = max(2, int(round(PAPER_REGION_FEATURES * width)))
        subject_features = max(2, int(round(PAPER_SUBJECT_FEATURES * width)))
        self.region_conv = nn.Sequential(conv(d[5] + 1, region_features, 2),
                                         *([_NORM[dims](region_features)] if batch_norm else []))
        region_grid = tuple(g - 1 for g in self.grid)
        self.n_patches, self.n_regions = int(np.prod(self.grid)), int(np.prod(region_grid))
        self.region_weight = nn.Parameter(torch.randn(self.n_regions, region_features) / np.sqrt(region_features))
        self.region_bias = nn.Parameter(torch.zeros(self.n_regions))  # locally connected: one unit per region
        self.subject_conv = nn.Sequential(conv(region_features + 1, subject_features, region_grid),
                                          *([_NORM[dims](subject_features)] if batch_norm else []))
        self.subject_head = nn.Linear(subject_features, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, volume: torch.Tensor) -> dict[str, torch.Tensor]:
        b = volume.shape[0]
        patches = centred_patches(volume, self.grid, self.patch_size)  # (B, n, C, *p)
        features = self.patch_net(patches.flatten(0, 1))
        features = features.amax(dim=tuple(range(2, features.ndim)))  # (B*n, d5); one voxel already at 25^3
        patch_logits = self.patch_head(features).reshape(b, self.n_patches)
        grid_map = torch.cat([torch.sigmoid(patch_logits)[:, None], features.reshape(b, self.n_patches, -1).transpose(1, 2)],
                             dim=1).reshape(b, -1, *self.grid)
        regions = self.dropout(F.relu(self.region_conv(grid_map)))  # (B, r, *region_grid)
        flat = regions.flatten(2)  # (B, r, m)
        region_logits = torch.einsum("brm,mr->bm", flat, self.region_weight) + self.region_bias
        region_map = torch.cat([torch.sigmoid(region_logits)[:, None], flat], dim=1).reshape(b, -1, *regions.shape[2:])
        subject = self.dropout(F.relu(self.subject_conv(region_map))).flatten(1)
        return {"patch": patch_logits, "region": region_logits, "subject": self.subject_head(subject).squeeze(1)}


def hfcn_loss(outputs: dict[str, torch.Tensor], target: torch.Tensor, class_weight: torch.Tensor | None = None) -> dict:
    """BCE at the patch, region and subject levels against the subject's label, weighted 1:1:1 (NOTES.md).

    ``class_weight`` (two values, :func:`mmlib.train.classification.class_weights`)
    weights each subject by its class, as MASAN's cross-entropy is weighted.
    Returns ``{"loss", "patch", "region", "subject"}``.
    """
    y = target.float()
    weight = None if class_weight is None else class_weight.to(target.device)[target.long()]
    terms = {}
    for level in ("patch", "region", "subject"):
        logits = outputs[level].float()
        labels = y if logits.ndim == 1 else y[:, None].expand_as(logits)
        per = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        per = per if per.ndim == 1 else per.mean(1)
        terms[level] = (per * weight).sum() / weight.sum() if weight is not None else per.mean()
    return {"loss": terms["patch"] + terms["region"] + terms["subject"], **terms}
