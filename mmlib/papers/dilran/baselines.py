"""The baselines of DILRAN Table 2, reimplemented from their papers, plus two classic anchors.

========================= ========================================================= =====================
baseline                  what                                                      source of the design
========================= ========================================================= =====================
:func:`average_fusion`    pixel mean (a + b) / 2                                    sanity anchor
:func:`laplacian_fusion`  Laplacian pyramid: max-abs detail, mean base              Burt & Adelson 1983
:class:`ZeroLearningFusion` VGG19 relu1_1 activity, softmax weights on pixels       Lahoud & Susstrunk 2019
:class:`MSRPAN`           multiscale residual pyramid attention autoencoder + FER   Fu et al. 2021
:class:`MSDRA`            double-branch residual attention autoencoder + FL1N       Li et al. 2022
========================= ========================================================= =====================

Images for the non-learned methods are 2-D arrays in [0, 1] of one shape; their
results are float64 arrays clipped to [0, 1]. MSRPAN and MSDRA are
:class:`~mmlib.papers.dilran.model.FusionAutoencoder` models: train them like DILRAN
(autoencoder on single images), then ``model.fuse(ct, mr, rule)`` with their own
rule (``MSRPAN.default_rule = "fer"``, ``MSDRA.default_rule = "fl1n"``).
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from skimage.transform import pyramid_reduce, resize
from torch import nn

from mmlib.errors import DataError, ParameterError
from mmlib.papers.dilran.model import (
    FEATURES,
    FusionAutoencoder,
    PyramidAttentionBlock,
    check_grey_batch,
    pool_gate,
    reconstruction_head,
)
from mmlib.nets.perceptual import VGG19Relu11


def _check_pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2:
        raise DataError("fusion pair", f"needs two grey 2-D images; got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise DataError("fusion pair", f"image sizes differ: {a.shape} vs {b.shape}")
    return a, b


def average_fusion(a, b) -> np.ndarray:
    """Pixel average ``(a + b) / 2`` of two grey images (classic anchor)."""
    a, b = _check_pair(a, b)
    return np.clip(0.5 * (a + b), 0.0, 1.0)


def laplacian_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """Burt-Adelson Laplacian pyramid: ``levels`` detail bands, then the coarse base (last item).

    ``G_{i+1} = pyramid_reduce(G_i)`` (scikit-image: Gaussian blur + 2x down-sampling);
    ``L_i = G_i - up(G_{i+1})`` with bilinear up-sampling to ``G_i``'s size, so that
    ``G_i = L_i + up(G_{i+1})`` rebuilds the image exactly. (scikit-image's own
    ``pyramid_laplacian`` bands are not built for reconstruction, hence this helper.)
    """
    bands, current = [], image
    for _ in range(levels):
        smaller = pyramid_reduce(current, downscale=2, preserve_range=True)
        bands.append(current - resize(smaller, current.shape, order=1, preserve_range=True))
        current = smaller
    return bands + [current]


def reconstruct_laplacian(pyramid: list[np.ndarray]) -> np.ndarray:
    """Invert :func:`laplacian_pyramid`."""
    image = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        image = band + resize(image, band.shape, order=1, preserve_range=True)
    return image


def laplacian_fusion(a, b, levels: int = 4) -> np.ndarray:
    """Laplacian-pyramid fusion (classic anchor): per band keep the coefficient of larger
    magnitude, average the bases, rebuild, clip to [0, 1]."""
    a, b = _check_pair(a, b)
    if levels < 1 or min(a.shape) < 2**levels:
        raise ParameterError(f"levels={levels} needs an image of at least {2**levels} pixels a side, got {a.shape}")
    pa, pb = laplacian_pyramid(a, levels), laplacian_pyramid(b, levels)
    fused = [np.where(np.abs(da) >= np.abs(db), da, db) for da, db in zip(pa[:-1], pb[:-1])]
    fused.append(0.5 * (pa[-1] + pb[-1]))
    return np.clip(reconstruct_laplacian(fused), 0.0, 1.0)


class ZeroLearningFusion:
    """Zero-learning fusion (Lahoud & Susstrunk 2019), reduced to its relu1_1 stage (NOTES.md).

    Activity ``A_k = sum_c relu1_1(I_k)_c`` (the channel L1 norm of non-negative
    features) per pixel; weights ``W_k = softmax_k(A_1, A_2)`` per pixel; fused
    ``W_1 I_1 + W_2 I_2``. Grey images are repeated to 3 channels in [0, 1], not
    ImageNet-normalised. The paper's deeper layers and their max-combination are
    left out. ImageNet VGG19 weights load from ``weights_path`` (torchvision format,
    ``vgg19-dcbb9e9d.pth``); without it a frozen seed-0 random VGG19 first layer is
    used (warned; ``weights_source`` says which).
    """

    def __init__(self, weights_path: str | os.PathLike | None = None, seed: int = 0):
        self.features = VGG19Relu11(weights_path, seed)
        self.weights_source = self.features.weights_source

    @torch.no_grad()
    def weights(self, a, b) -> np.ndarray:
        """Per-pixel weight of image ``a`` (that of ``b`` is one minus it), shape of the images."""
        a, b = _check_pair(a, b)
        batch = torch.from_numpy(np.stack([a, b])[:, None]).float()
        (act,) = self.features(batch)
        activity = act.sum(dim=1)  # (2, H, W)
        return torch.softmax(activity, dim=0)[0].double().numpy()

    def __call__(self, a, b) -> np.ndarray:
        a, b = _check_pair(a, b)
        w = self.weights(a, b)
        return np.clip(w * a + (1.0 - w) * b, 0.0, 1.0)


class PyramidResidualAttention(nn.Module):
    """MSRPAN's residual pyramid attention block (Fu et al. 2021, architecture from the paper's
    description, cross-checked against the authors' public code jeffsonfu/MSRPAN).

    The input is average-pooled to 1/2, 1/4 and 1/8 size; at each level one shared
    multiscale residual attention unit (3x3 / 5x5 / 7x7 chain with pooling gate, the
    same unit DILRAN later adopted: :class:`PyramidAttentionBlock`) is applied; the
    levels are summed coarse to fine with nearest up-sampling; the result gates the
    input residually, ``x + pool_gate(x) * pyramid``, then BatchNorm.
    """

    def __init__(self, channels: int = FEATURES, levels: int = 3):
        super().__init__()
        self.levels = levels
        self.unit = PyramidAttentionBlock(channels)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs, p = [], x
        for _ in range(self.levels):
            p = F.avg_pool2d(p, 2, ceil_mode=True)
            outs.append(self.unit(p))
        pyramid = outs[-1]
        for finer in reversed(outs[:-1]):
            pyramid = finer + F.interpolate(pyramid, size=finer.shape[-2:], mode="nearest")
        pyramid = F.interpolate(pyramid, size=x.shape[-2:], mode="nearest")
        return self.norm(x + pool_gate(x) * pyramid)


class MSRPAN(FusionAutoencoder):
    """MSRPAN (Fu et al. 2021): 1x1 stem with residual gating, three residual pyramid attention
    blocks, reconstruction 3x3 64->64, 3x3 64->32, 1x1 32->1; fused with FER.

    ``shared_blocks=True`` applies one block three times, as the authors' public code does.
    """

    default_rule = "fer"

    def __init__(self, n_blocks: int = 3, shared_blocks: bool = True):
        super().__init__()
        self.shallow = nn.Conv2d(1, FEATURES, 1)
        block = PyramidResidualAttention()
        self.blocks = nn.ModuleList([block] if shared_blocks else [PyramidResidualAttention() for _ in range(n_blocks)])
        self.n_blocks = n_blocks
        self.head = reconstruction_head(last_kernel=1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        check_grey_batch(x, "MSRPAN")
        shallow = self.shallow(x)
        gated = x + pool_gate(x) * shallow
        deep = shallow
        for i in range(self.n_blocks):
            deep = self.blocks[i % len(self.blocks)](deep)
        return gated + pool_gate(gated) * deep

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(f)


class DoubleBranchBlock(nn.Module):
    """MSDRA block (Li et al. 2022; architecture from the paper's abstract/description only).

    Known: two branches, the first multiscale with three kernel sizes, the second six
    3x3 convolutions; residual attention. Filled gaps (assumptions, stated for the
    book): kernel sizes 3/5/7 concatenated and reduced by a 1x1 conv; ReLU between
    the six 3x3 convs; branches summed and applied through the same pooling-gate
    residual attention as MSRPAN (same group), ``x + pool_gate(x) * (b1 + b2)``; BatchNorm.
    """

    def __init__(self, channels: int = FEATURES, kernels: tuple[int, ...] = (3, 5, 7), depth: int = 6):
        super().__init__()
        self.scales = nn.ModuleList(nn.Conv2d(channels, channels, k, padding=k // 2) for k in kernels)
        self.reduce = nn.Conv2d(channels * len(kernels), channels, 1)
        layers: list[nn.Module] = []
        for i in range(depth):
            layers.append(nn.Conv2d(channels, channels, 3, padding=1))
            if i < depth - 1:
                layers.append(nn.ReLU())
        self.deep = nn.Sequential(*layers)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        multiscale = self.reduce(torch.cat([conv(x) for conv in self.scales], dim=1))
        return self.norm(x + pool_gate(x) * (multiscale + self.deep(x)))


class MSDRA(FusionAutoencoder):
    """MSDRA (Li et al. 2022): 1x1 stem, three identical (not weight-shared) double-branch blocks
    in series, MSRPAN's reconstruction head; fused with FL1N. Architecture from the paper's
    description; the gaps are listed in :class:`DoubleBranchBlock`."""

    default_rule = "fl1n"

    def __init__(self, n_blocks: int = 3):
        super().__init__()
        self.shallow = nn.Conv2d(1, FEATURES, 1)
        self.blocks = nn.Sequential(*[DoubleBranchBlock() for _ in range(n_blocks)])
        self.head = reconstruction_head(last_kernel=1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        check_grey_batch(x, "MSDRA")
        return self.blocks(self.shallow(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(f)
