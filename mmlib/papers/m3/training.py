"""Training M3's segmentation networks (Sec. 2.2.3) and the Direct CNN baseline (Table 7).

**Segmentation.** One :class:`~mmlib.papers.m3.medicalnet.MedicalNetSegmentation`
per modality, trained on the lesion masks of both classes mixed, without class
labels (Sec. 2.2.3), with MONAI's Dice + cross-entropy
(:class:`monai.losses.DiceCELoss`, softmax over the two classes, Dice on the
lesion channel). The head's logits (output stride 4) are upsampled trilinearly
to the mask's grid before the loss (:func:`logits_at`): the paper instead
crops the ground truth to the prediction's size; at this book's small grids a
small metastasis would vanish from a stride-4 label map, so the loss is taken at
full resolution. Adam; the epoch with the lowest validation loss is kept
(validation = patients carved from the training fold).

**Direct CNN** (Table 7, "direct use of CNNs for simultaneous segmentation and
classification"): the same encoder with every modality as an input channel,
MedicalNet's head for the lesion and a classification head (global average pool
of layer4 -> dropout 0.5 -> linear), trained end to end on Dice + CE (mask) plus
the class-weighted cross-entropy (label) (:func:`mmlib.train.classification.weighted_cross_entropy`).

:func:`dice_per_case` is the test Dice of a network's lesion mask (threshold 0.5 on
the upsampled probability). Hand-written glue around MONAI and :func:`mmlib.train.loop.fit`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from torch import nn

from mmlib.errors import ParameterError
from mmlib.papers.m3.medicalnet import MedicalNetSegmentation, stage_channels
from mmlib.train.checkpoint import load_checkpoint
from mmlib.train.classification import weighted_cross_entropy
from mmlib.train.loop import History, fit, predict


def seg_loss() -> DiceCELoss:
    """MONAI's Dice + CE on two-class logits and a ``(B, 1, ...)`` 0/1 mask (Dice on the lesion channel only)."""
    return DiceCELoss(to_onehot_y=True, softmax=True, include_background=False)


def logits_at(logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """The head's logits resampled (trilinear) to the mask's grid ``size`` (module docstring)."""
    return logits if tuple(logits.shape[2:]) == tuple(size) else \
        F.interpolate(logits.float(), size=tuple(size), mode="trilinear", align_corners=False)


def soft_dice(logits: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean soft Dice of the lesion channel over a batch (logged while training; no threshold)."""
    p = torch.softmax(logits.float(), dim=1)[:, 1]
    m = mask[:, 0].float()
    inter = (p * m).sum(dim=(1, 2, 3))
    return float((2 * inter / (p.sum(dim=(1, 2, 3)) + m.sum(dim=(1, 2, 3)) + 1e-6)).mean())


def segmentation_step(modality: str) -> Callable:
    """``loss_fn(model, batch, device)`` for :func:`mmlib.train.loop.fit`: Dice + CE, and the soft Dice logged."""
    criterion = seg_loss()

    def loss_fn(model, batch, device):
        mask = batch["seg"].to(device)
        logits = logits_at(model(batch[modality].to(device))["logits"], mask.shape[2:])
        return {"loss": criterion(logits.float(), mask.float()), "dice": soft_dice(logits.detach(), mask)}

    return loss_fn


def segmentation_validation(loader, modality: str, *, device, precision: str = "fp32") -> Callable:
    """``val_fn(model)`` -> ``{"loss", "dice"}``: Dice + CE and the hard Dice (threshold 0.5) on ``loader``."""
    criterion = seg_loss()

    def val_fn(model):
        losses, dices = [], []
        with torch.no_grad():
            for batch in loader:
                mask = batch["seg"].to(device)
                logits = logits_at(model(batch[modality].to(device))["logits"], mask.shape[2:]).float()
                losses.append(float(criterion(logits, mask.float())) * len(mask))
                dices += hard_dice(logits, mask).tolist()
        return {"loss": sum(losses) / len(dices), "dice": float(np.mean(dices))}

    return val_fn


def hard_dice(logits: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """Dice of the thresholded lesion map (p >= 0.5) per case, via MONAI's :class:`DiceMetric` (empty vs empty = 1)."""
    pred = (torch.softmax(logits.float(), dim=1)[:, 1:2] >= 0.5).float()
    metric = DiceMetric(include_background=True, reduction="none", ignore_empty=False)
    return metric(pred.cpu(), mask.float().cpu()).numpy().ravel()


def train_segmentation(net: MedicalNetSegmentation, train_loader, val_loader, modality: str, *, max_epochs: int,
                       lr: float, weight_decay: float, device, precision: str, seed: int,
                       checkpoint_path: str | Path, on_epoch_end=None) -> History:
    """Train one modality's segmentation network (module docstring); the best validation-loss epoch is loaded."""
    history = fit(net, train_loader, loss_fn=segmentation_step(modality),
                  optimizer=torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay),
                  max_epochs=max_epochs, device=device, precision=precision,
                  val_fn=segmentation_validation(val_loader, modality, device=device, precision=precision),
                  select_on="loss", select_mode="min", checkpoint_path=checkpoint_path, seed=seed, progress=False,
                  on_epoch_end=on_epoch_end)
    load_checkpoint(history.best_path, model=net, map_location=device)
    return history


def dice_per_case(net: nn.Module, loader, modality: str, *, device, precision: str = "fp32") -> dict[str, float]:
    """Test Dice of the lesion mask per case (p >= 0.5 at the mask's grid), ``{case_id: dice}``."""
    def forward(model, batch, device):
        mask = batch["seg"].to(device)
        logits = logits_at(model(batch[modality].to(device))["logits"], mask.shape[2:])
        return {"dice": torch.as_tensor(hard_dice(logits, mask)), "case_id": np.array(batch["case_id"])}

    out = predict(net, loader, device=device, precision=precision, forward=forward)
    return {str(c): float(d) for c, d in zip(out["case_id"], out["dice"])}


class DirectCNN(nn.Module):
    """Table 7's Direct CNN: the dilated ResNet-50 on stacked modalities, a segmentation and a classification head.

    ``forward(x)`` returns ``{"logits": segmentation logits, "class_logits": (B, 2), stages...}``.
    """

    def __init__(self, n_modalities: int, width: float = 1.0, dropout: float = 0.5):
        super().__init__()
        self.net = MedicalNetSegmentation(in_channels=n_modalities, width=width)
        self.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(stage_channels(width)["layer4"], 2))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.net(x)
        return {**out, "class_logits": self.fc(out["layer4"].float().mean(dim=(2, 3, 4)))}


def stacked(batch: Mapping[str, Any], modalities: Sequence[str], device) -> torch.Tensor:
    """The modalities of a batch as channels, ``(B, M, D, H, W)``."""
    return torch.cat([batch[m] for m in modalities], dim=1).to(device)


def direct_cnn_step(modalities: Sequence[str], counts: Sequence[int], seg_weight: float = 1.0) -> Callable:
    """``loss_fn`` of the Direct CNN: weighted CE on the label + ``seg_weight`` x Dice + CE on the lesion mask."""
    seg, cls = seg_loss(), weighted_cross_entropy(counts)

    def loss_fn(model, batch, device):
        mask = batch["seg"].to(device)
        out = model(stacked(batch, modalities, device))
        seg_term = seg(logits_at(out["logits"], mask.shape[2:]).float(), mask.float())
        cls_term = cls.to(device)(out["class_logits"].float(), batch["label"].to(device))
        return {"loss": cls_term + seg_weight * seg_term, "class": cls_term.detach(), "seg": seg_term.detach()}

    return loss_fn


def direct_cnn_logits(modalities: Sequence[str]) -> Callable:
    """``logits_fn`` (class logits) of the Direct CNN, for :func:`mmlib.train.classification.validation_fn`."""
    def logits(model, batch, device):
        return model(stacked(batch, modalities, device))["class_logits"]

    return logits


def check_lr(lr: float) -> float:
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0:
        raise ParameterError(f"lr={lr!r} must be a positive number")
    return float(lr)
