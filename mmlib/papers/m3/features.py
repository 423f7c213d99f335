"""M3's feature extractor (Eq. 1): mask attention on the encoder stages, pooled and concatenated (multi-scale).

Eq. 1 of the paper, ``F = sum_i D(E_N(x)) o E_i(x)``: the trained segmentation
network's lesion probability map ``D(E_N(x))`` (softmax of ``conv_seg``, class 1)
multiplies each stage's feature maps ``E_i(x)`` element-wise, after being
resized to that stage's grid (area averaging); the stages are then pooled over
space and concatenated (the "sum" of Eq. 1 cannot add maps of 512, 1024 and 2048
channels). The stages are the three after the network's downsampling
(:data:`~mmlib.papers.m3.medicalnet.FEATURE_STAGES`: layer2, layer3, layer4), so one
pooling gives 512 + 1024 + 2048 = 3584 values at width 1.

**The 7,168 of Sec. 2.5** is twice 3584 and the paper does not say why
(NOTES.md). Two readings, :data:`POOLINGS`:

* ``"avg+max"`` (the default): every masked stage is pooled by its global
  average *and* its global maximum, ``[avg(P o E_i), max(P o E_i)]``;
* ``"masked+unmasked"``: the global average of the masked *and* of the
  unmasked stage, ``[avg(P o E_i), avg(E_i)]``.

**Ablations** (Sec. 3.3, Tables 5-6), :data:`VARIANTS`: ``"m3"`` (mask, stages
2-4), ``"deep"`` ("Deep learning": no mask, last stage only), ``"mask"`` ("Mask
attention": mask, last stage), ``"multiscale"`` ("Multiscale": no mask, stages
2-4). Without a mask, ``"avg+max"`` pools the plain stage by average and
maximum; ``"masked+unmasked"`` has only its unmasked half, ``avg(E_i)``.

:func:`pooled_features` computes every variant from one forward pass.
Hand-written: neither MONAI nor the paper's authors publish this extractor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmlib.errors import ParameterError
from mmlib.papers.m3.medicalnet import FEATURE_STAGES, stage_channels
from mmlib.train.loop import predict


@dataclass(frozen=True)
class Variant:
    """Which stages are pooled, and whether the probability map masks them."""

    mask: bool
    stages: tuple[str, ...]


#: M3 and its three ablations, in the order of the paper's Tables 5-6 (after M3 itself).
VARIANTS = {
    "m3": Variant(True, FEATURE_STAGES),
    "deep": Variant(False, ("layer4",)),
    "mask": Variant(True, ("layer4",)),
    "multiscale": Variant(False, FEATURE_STAGES),
}
#: The two readings of the paper's factor 2 (module docstring).
POOLINGS = ("avg+max", "masked+unmasked")


def check_pooling(pooling: str) -> str:
    if pooling not in POOLINGS:
        raise ParameterError(f"pooling={pooling!r} must be one of {list(POOLINGS)}")
    return pooling


def feature_length(variant: str, width: float = 1.0, pooling: str = "avg+max") -> int:
    """Length of a variant's feature vector: 7168 for M3 at width 1 with either reading."""
    check_pooling(pooling)
    if variant not in VARIANTS:
        raise ParameterError(f"unknown feature variant {variant!r}; known: {list(VARIANTS)}")
    spec = VARIANTS[variant]
    channels = sum(stage_channels(width)[s] for s in spec.stages)
    return channels * (2 if (pooling == "avg+max" or spec.mask) else 1)


def lesion_probability(logits: torch.Tensor) -> torch.Tensor:
    """``D(E_N(x))``: the softmax probability of the lesion class, ``(B, 1, d, h, w)``."""
    return torch.softmax(logits.float(), dim=1)[:, 1:2]


def masked_stage(stage: torch.Tensor, probability: torch.Tensor) -> torch.Tensor:
    """``P o E_i``: the probability map resized to the stage's grid (area averaging), times every channel."""
    p = F.interpolate(probability, size=stage.shape[2:], mode="area") if probability.shape[2:] != stage.shape[2:] \
        else probability
    return stage.float() * p


def pool(stage: torch.Tensor, probability: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """One stage pooled to ``(B, k * C)`` (module docstring); ``probability`` None = no mask."""
    stage = stage.float()
    if probability is None:
        parts = [stage.mean(dim=(2, 3, 4))] + ([stage.amax(dim=(2, 3, 4))] if pooling == "avg+max" else [])
        return torch.cat(parts, dim=1)
    masked = masked_stage(stage, probability)
    second = masked.amax(dim=(2, 3, 4)) if pooling == "avg+max" else stage.mean(dim=(2, 3, 4))
    return torch.cat([masked.mean(dim=(2, 3, 4)), second], dim=1)


def pooled_features(outputs: Mapping[str, torch.Tensor], pooling: str = "avg+max",
                    variants: Sequence[str] = tuple(VARIANTS)) -> dict[str, torch.Tensor]:
    """Every requested variant's ``(B, F)`` features from one forward pass of the segmentation network.

    ``outputs`` is :class:`~mmlib.papers.m3.medicalnet.MedicalNetSegmentation`'s
    output (``"logits"`` and the stages).
    """
    check_pooling(pooling)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ParameterError(f"unknown feature variant(s) {unknown}; known: {list(VARIANTS)}")
    probability = lesion_probability(outputs["logits"])
    out = {}
    for name in variants:
        spec = VARIANTS[name]
        out[name] = torch.cat([pool(outputs[s], probability if spec.mask else None, pooling) for s in spec.stages],
                              dim=1)
    return out


@torch.no_grad()
def extract(net: nn.Module, loader, modality: str, *, device, pooling: str = "avg+max",
            variants: Sequence[str] = tuple(VARIANTS), precision: str = "fp32") -> dict[str, np.ndarray]:
    """Every variant's features for every case of ``loader`` (a batch's ``modality`` goes through ``net``).

    Returns ``{variant: (N, F) float32, "label": (N,), "case_id": (N,)}`` in the
    loader's order. The network runs in eval mode (BatchNorm's running statistics).
    """
    def forward(model, batch, device):
        feats = pooled_features(model(batch[modality].to(device)), pooling, variants)
        return {**feats, "label": batch["label"], "case_id": np.array(batch["case_id"])}

    return predict(net, loader, device=device, precision=precision, forward=forward)
