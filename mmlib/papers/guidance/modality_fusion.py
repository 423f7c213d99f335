"""The multi-modal baselines of the guidance paper's Tables III/IV and VIII.

Every model takes a dict ``{modality: (B, 1, D, H, W)}`` and checks it with
:func:`~mmlib.papers.guidance.rmc.check_modalities` (a missing modality or mismatched
shapes raise :class:`~mmlib.errors.DataError`). All but AGG use the RMC
backbone, as the paper keeps "the network architecture (pre-trained RMC)" the
same for the three fusion methods (Sec. IV-F).

* :class:`ProbabilityEnsemble`: the mean of the uni-modal RMCs' softmax
  probabilities (Tables III/IV, "Ensemble"); the members are trained alone.
* :class:`PixelFusionRMC`: modalities stacked as channels of one RMC.
* :class:`FeatureFusionRMC`: one RMC feature extractor per modality, pooled
  features concatenated, Dropout + Linear.
* :class:`DecisionFusionRMC`: one RMC classifier per modality, softmax
  probabilities concatenated, a 3-layer MLP (ref. [50]).
* AGG (ref. [17]): :func:`crop_tumour_roi` (:func:`tumour_roi_batch` for a batch) + :class:`AGGClassifier`. The paper's
  AGG segments the tumour with a U-Net first; here the masks shipped with the
  data stand in for that segmentation (as the issue asks), which favours AGG.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from mmlib.errors import DataError, ParameterError
from mmlib.papers.guidance.rmc import RMC, check_modalities


def _modality_list(modalities: Sequence[str]) -> tuple[str, ...]:
    modalities = tuple(modalities)
    if not modalities or len(set(modalities)) != len(modalities):
        raise ParameterError(f"need one or more distinct modalities, got {modalities}")
    return modalities


class ProbabilityEnsemble(nn.Module):
    """Average of the class probabilities of uni-modal models (Tables III/IV, last row).

    ``members``: ``{modality: trained uni-modal model}``. ``forward`` returns
    probabilities ``(B, K)``, not logits.
    """

    def __init__(self, members: Mapping[str, nn.Module]):
        super().__init__()
        self.modalities = _modality_list(members)
        self.members = nn.ModuleDict(dict(members))

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        check_modalities(inputs, self.modalities)
        probs = [torch.softmax(self.members[m](inputs[m]), dim=1) for m in self.modalities]
        return torch.stack(probs).mean(dim=0)


class PixelFusionRMC(nn.Module):
    """Pixel fusion (Table VIII): the modalities stacked on the channel axis of one RMC."""

    def __init__(self, modalities: Sequence[str], num_classes: int = 2, width: float = 1.0, dropout: float = 0.5):
        super().__init__()
        self.modalities = _modality_list(modalities)
        self.rmc = RMC(len(self.modalities), num_classes, width, dropout)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        check_modalities(inputs, self.modalities)
        return self.rmc(torch.cat([inputs[m] for m in self.modalities], dim=1))


class FeatureFusionRMC(nn.Module):
    """Feature fusion (Table VIII): per-modality RMC features, pooled and concatenated, then Dropout + Linear."""

    def __init__(self, modalities: Sequence[str], num_classes: int = 2, width: float = 1.0, dropout: float = 0.5):
        super().__init__()
        self.modalities = _modality_list(modalities)
        self.extractors = nn.ModuleDict({m: RMC(1, num_classes, width, dropout) for m in self.modalities})
        for rmc in self.extractors.values():
            rmc.fc = nn.Identity()  # the per-modality heads are unused: one head sees all features
        width_out = self.extractors[self.modalities[0]].out_channels
        self.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(len(self.modalities) * width_out, num_classes))

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        check_modalities(inputs, self.modalities)
        feats = [self.extractors[m].pool(self.extractors[m].features(inputs[m])) for m in self.modalities]
        return self.fc(torch.cat(feats, dim=1))


class DecisionFusionRMC(nn.Module):
    """Decision fusion (Table VIII, ref. [50]): per-modality RMC probabilities -> 3-layer MLP."""

    def __init__(self, modalities: Sequence[str], num_classes: int = 2, width: float = 1.0, dropout: float = 0.5, hidden: int = 32):
        super().__init__()
        self.modalities = _modality_list(modalities)
        self.classifiers = nn.ModuleDict({m: RMC(1, num_classes, width, dropout) for m in self.modalities})
        n_in = len(self.modalities) * num_classes
        self.mlp = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        check_modalities(inputs, self.modalities)
        probs = [torch.softmax(self.classifiers[m](inputs[m]), dim=1) for m in self.modalities]
        return self.mlp(torch.cat(probs, dim=1))


def crop_tumour_roi(volumes: Mapping[str, np.ndarray | torch.Tensor], mask: np.ndarray | torch.Tensor,
                    roi_size: Sequence[int], margin: int | Sequence[int] = 4, case: str = "case") -> torch.Tensor:
    """AGG's tumour ROI: crop around the mask's bounding box (+ ``margin``), pad/crop to ``roi_size``.

    ``volumes``: ``{modality: (D, H, W)}`` of one case; ``mask``: ``(D, H, W)``
    labels (tumour = any label > 0). Uses MONAI ``CropForegroundd`` then
    ``ResizeWithPadOrCropd`` (a box larger than ``roi_size`` is centre-cropped,
    a smaller one zero-padded; no resampling). Returns ``(n_modalities, *roi_size)``
    in the order of ``volumes``.

    Raises :class:`DataError` naming ``case`` for an empty mask or shapes that differ.
    """
    from monai.transforms import Compose, CropForegroundd, ResizeWithPadOrCropd

    names = list(volumes)
    shapes = {m: tuple(np.shape(v)) for m, v in volumes.items()}
    shapes["mask"] = tuple(np.shape(mask))
    if len(set(shapes.values())) != 1 or len(shapes["mask"]) != 3:
        raise DataError(case, f"volumes and mask must share one (D, H, W) shape, got {shapes}")
    mask_t = torch.as_tensor(np.asarray(mask))[None]
    if not bool((mask_t > 0).any()):
        raise DataError(case, "the tumour mask is empty: no ROI to crop")
    data = {m: torch.as_tensor(np.asarray(v), dtype=torch.float32)[None] for m, v in volumes.items()}
    data["mask"] = mask_t
    crop = Compose([
        CropForegroundd(keys=[*names, "mask"], source_key="mask", margin=margin, allow_smaller=True),
        ResizeWithPadOrCropd(keys=names, spatial_size=tuple(roi_size)),
    ])
    out = crop(data)
    return torch.cat([torch.as_tensor(out[m]) for m in names], dim=0)


def tumour_roi_batch(batch: Mapping[str, object], modalities: Sequence[str], roi_size: Sequence[int],
                     margin: int | Sequence[int] = 4) -> torch.Tensor:
    """AGG's input for a loader batch: :func:`crop_tumour_roi` of every case, stacked.

    ``batch`` is a :class:`~mmlib.data.glioma_dataset.GliomaVolumes` batch built
    with ``with_seg=True``: ``{modality: (B, 1, D, H, W), "seg": (B, 1, D, H, W),
    "case_id": [B names]}``. Returns ``(B, len(modalities), *roi_size)`` float32.
    Raises :class:`DataError` naming the case when its mask is absent or empty.
    """
    modalities = _modality_list(modalities)
    if "seg" not in batch:
        raise DataError("AGG batch", "has no 'seg' mask: build the dataset with with_seg=True")
    names = list(batch.get("case_id", [f"case {i}" for i in range(len(batch["seg"]))]))
    rois = [crop_tumour_roi({m: batch[m][i, 0] for m in modalities}, batch["seg"][i, 0], roi_size,
                            margin=margin, case=str(names[i]))
            for i in range(len(batch["seg"]))]
    return torch.stack(rois).float()


class AGGClassifier(nn.Module):
    """AGG's 3D CNN (ref. [17]) on the stacked tumour ROIs: MONAI ``Classifier``.

    A residual 3D CNN (MONAI ``Classifier``: strided residual units, then a
    Linear on the flattened last map) on ``(B, n_modalities, *roi_size)``.
    """

    def __init__(self, n_modalities: int, roi_size: Sequence[int] = (32, 64, 64), num_classes: int = 2,
                 channels: Sequence[int] = (16, 32, 64, 128), dropout: float = 0.5):
        super().__init__()
        from monai.networks.nets import Classifier

        self.in_shape = (n_modalities, *roi_size)
        self.net = Classifier(in_shape=self.in_shape, classes=num_classes, channels=tuple(channels),
                              strides=(2,) * len(channels), dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.in_shape:
            raise DataError("AGG input", f"expected (B, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}")
        return self.net(x)
