"""DILRAN: the dilated residual attention autoencoder of Zhou, Xu & Zhang (DILRAN paper, Sec. 2.2, Fig. 1).

The model is trained as an autoencoder on single CT and MR images (Sec. 2.3) and
fuses two images only at test time: encode both, combine the two feature maps
with a fusion rule (:mod:`mmlib.papers.dilran.fusion_rules`, Sec. 2.2.2), decode once.

Layers (64 feature channels throughout)::

    stem        1x1 conv 1 -> 64                                   (shallow features)
    dilated     3x3 convs with dilation 1, 3, 5 -> concat -> 1x1 conv 192 -> 64 -> BN
    DILRAN      x + ReLU(Up(AvgPool(x))) * (y1 + y2 + y3),  y1 = C(x), y2 = C(y1), y3 = C(y2)
                (C one shared 3x3 conv: 3x3, 5x5 and 7x7 receptive fields), then BN
    head        3x3 convs 64 -> 64 -> 32 -> 1, no activations

Two variants (``variant=``), because the authors' public code (``model_v5``, the
one behind their checkpoint; ``../shared/papers/NOTES.md``) adds gating the paper
text (Sec. 2.2.1) does not describe:

``"code"`` (default)
    The stem's 1x1 features are gated and added to the input,
    ``s = x + ReLU(Up(AvgPool(x))) * conv1x1(x)``; the same BatchNorm module is used
    after the dilated reduction and after the DILRAN block; and the encoder ends with a
    second gating step ``s + ReLU(Up(AvgPool(s))) * deep``.
``"paper"``
    The text's reading: plain 1x1 shallow features, dilated convs, concat + reduce + BN,
    the DILRAN block, BN (its own); no stem or outer gating.

The DILRAN block computes the chain y1, y2, y3 once. The authors' code evaluates
``C(x) + C(C(x)) + C(C(C(x)))``, that is C(x) three times and C(C(x)) twice: the
same output at twice the cost (``tests/test_dilran.py`` checks the equality).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmlib.errors import DataError, ParameterError
from mmlib.papers.dilran.fusion_rules import FusionRule, get_rule

#: Feature channels of the DILRAN encoder (paper Fig. 1; the code's 64).
FEATURES = 64


def pool_gate(x: torch.Tensor) -> torch.Tensor:
    """The attention gate ``ReLU(Up(AvgPool_2(x)))`` (nearest up-sampling back to x's size).

    Pyramid-attention style gate of the DILRAN and MSRPAN blocks; sizing the
    up-sampling to ``x`` also handles odd heights and widths.
    """
    pooled = F.avg_pool2d(x, 2, ceil_mode=True)
    return F.relu(F.interpolate(pooled, size=x.shape[-2:], mode="nearest"))


def check_grey_batch(x: torch.Tensor, who: str) -> None:
    """Raise :class:`DataError` unless ``x`` is a batch of grey images ``(B, 1, H, W)``."""
    if x.ndim != 4 or x.shape[1] != 1:
        raise DataError(f"{who} input", f"needs grey images shaped (B, 1, H, W); got {tuple(x.shape)}")


class PyramidAttentionBlock(nn.Module):
    """The DILRAN block (paper Sec. 2.2.1, Fig. 1b): ``x + pool_gate(x) * (y1 + y2 + y3)``.

    ``y1 = C(x), y2 = C(y1), y3 = C(y2)`` with one shared 3x3 convolution C, so the
    three terms see 3x3, 5x5 and 7x7 receptive fields. The chain is evaluated once.
    """

    def __init__(self, channels: int = FEATURES):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y1 = self.conv(x)
        y2 = self.conv(y1)
        y3 = self.conv(y2)
        return x + pool_gate(x) * (y1 + y2 + y3)


class DilatedStem(nn.Module):
    """Multi-scale shallow features (Sec. 2.2.1): 3x3 convs with dilation 1, 3, 5, concatenated,
    reduced by a 1x1 conv, then BatchNorm.

    ``forward(x)`` takes the 64-channel shallow map. ``forward(lifted, mix)`` takes it in
    factored form, ``x = conv1x1(lifted, mix)`` with ``lifted`` of k << 64 channels and ``mix``
    the ``(64, k)`` matrix, and gives the same output (up to float rounding) with the
    convolutions folded: everything before the BatchNorm is linear in ``x``, so
    ``reduce(cat_d conv_d(mix lifted)) = sum_d conv_d'(lifted)`` with
    ``W_d' = R_d W_d mix`` (R_d the reduce conv's slice for branch d). Zero padding commutes
    with the 1x1 mix, so the borders agree too. This is an exact reparametrisation written by
    hand (no library folds convolutions through concatenations); it cuts the stem from
    about 16 to 0.7 GFLOP per 256 x 256 image, and gradients reach the same parameters.
    """

    def __init__(self, channels: int = FEATURES, dilations: tuple[int, ...] = (1, 3, 5)):
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=d, dilation=d) for d in dilations)
        self.reduce = nn.Conv2d(channels * len(dilations), channels, 1)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        if mix is None:
            return self.norm(self.reduce(torch.cat([branch(x) for branch in self.branches], dim=1)))
        reduce = self.reduce.weight.flatten(1).chunk(len(self.branches), dim=1)  # R_d: (64, 64) each
        out = None
        bias = self.reduce.bias
        for branch, r in zip(self.branches, reduce):
            weight = torch.einsum("po,oikl,ij->pjkl", r, branch.weight, mix)
            y = F.conv2d(x, weight, None, padding=branch.padding, dilation=branch.dilation)
            out = y if out is None else out + y
            bias = bias + r @ branch.bias
        return self.norm(out + bias.view(1, -1, 1, 1))


class FusionAutoencoder(nn.Module):
    """Base of the feature-fusion autoencoders (DILRAN and the MSRPAN / MSDRA baselines).

    Subclasses define :meth:`encode` ``(B, 1, H, W) -> (B, C, H, W)`` and :meth:`decode`.
    ``forward`` reconstructs (the training task, paper Sec. 2.3); :meth:`fuse` fuses two images,
    by default with the model's own rule ``default_rule``.
    """

    default_rule = "avg"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def fuse(self, ct: torch.Tensor, mr: torch.Tensor, rule: str | FusionRule | None = None) -> torch.Tensor:
        """Encode both images (one batched pass), fuse the features with ``rule``, decode once (Fig. 1a)."""
        if ct.ndim != 4 or ct.shape[1] != 1 or ct.shape != mr.shape:
            raise DataError(
                "fusion pair",
                f"needs two grey images of one shape (B, 1, H, W); got {tuple(ct.shape)} and {tuple(mr.shape)}",
            )
        f1, f2 = self.encode(torch.cat([ct, mr])).chunk(2)
        return self.decode(get_rule(self.default_rule if rule is None else rule)(f1, f2))


def reconstruction_head(channels: int = FEATURES, last_kernel: int = 3) -> nn.Sequential:
    """3-conv reconstruction module 64 -> 64 -> 32 -> 1 with no activations (Sec. 2.2; NOTES.md)."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1),
        nn.Conv2d(channels, 32, 3, padding=1),
        nn.Conv2d(32, 1, last_kernel, padding=last_kernel // 2),
    )


class DILRAN(FusionAutoencoder):
    """The DILRAN fusion autoencoder (paper Sec. 2.2, Fig. 1); ``variant`` is ``"code"`` or ``"paper"``
    (see the module docstring)."""

    VARIANTS = ("code", "paper")
    default_rule = "sfnn-max"

    def __init__(self, variant: str = "code"):
        super().__init__()
        if variant not in self.VARIANTS:
            raise ParameterError(f"DILRAN variant={variant!r} is not one of {self.VARIANTS}")
        self.variant = variant
        self.shallow = nn.Conv2d(1, FEATURES, 1)
        self.dilated = DilatedStem()
        self.block = PyramidAttentionBlock()
        # The code variant re-applies the dilated stem's BatchNorm; the paper variant has its own.
        self.block_norm = self.dilated.norm if variant == "code" else nn.BatchNorm2d(FEATURES)
        self.head = reconstruction_head()

    def lifted_input(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The shallow features in factored form ``(lifted, mix)``: ``shallow = conv1x1(lifted, mix)``.

        The shallow conv is 1x1 from one channel, ``w x + b``, so the code variant's
        ``x + g (w x + b)`` (g = :func:`pool_gate` of x) is ``[1, w, b]`` applied to
        ``[x, g x, g]``, and the paper variant's ``w x + b`` is ``[w, b]`` applied to ``[x, 1]``.

        ``lifted`` takes the layout of the model's weights (:meth:`memory_format`). A grey
        ``(B, 1, H, W)`` input carries no layout, so the concatenation would come out in the
        plain layout even in a channels-last model, and with it the code variant's 64-channel
        shallow map, the gates and sums on it and the gradients through them: mixed-layout
        element-wise steps and oneDNN reorders on every 64-channel map.
        """
        w, b = self.shallow.weight.flatten(), self.shallow.bias
        if self.variant == "code":
            gate = pool_gate(x)
            lifted, mix = torch.cat([x, gate * x, gate], dim=1), torch.stack([torch.ones_like(w), w, b], dim=1)
        else:
            lifted, mix = torch.cat([x, torch.ones_like(x)], dim=1), torch.stack([w, b], dim=1)
        return lifted.contiguous(memory_format=self.memory_format()), mix

    def memory_format(self) -> torch.memory_format:
        """``torch.channels_last`` when the model was put in that layout (``model.to(memory_format=...)``),
        else ``torch.contiguous_format``: read from the first head convolution's weight."""
        weight = self.head[0].weight
        return torch.channels_last if weight.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Image ``(B, 1, H, W)`` -> features ``(B, 64, H, W)``.

        The 64-channel shallow map enters the dilated stem in factored form
        (:meth:`lifted_input`, :class:`DilatedStem`): the same function, about half the FLOPs.
        """
        check_grey_batch(x, "DILRAN")
        lifted, mix = self.lifted_input(x)
        deep = self.block_norm(self.block(self.dilated(lifted, mix)))
        if self.variant == "code":
            shallow = F.conv2d(lifted, mix[..., None, None].to(lifted.dtype))
            deep = shallow + pool_gate(shallow) * deep
        return deep

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """Features ``(B, 64, H, W)`` -> image ``(B, 1, H, W)`` (not clamped)."""
        return self.head(f)
