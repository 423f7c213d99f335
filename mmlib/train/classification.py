"""Class-weighted cross-entropy and the one validation function of every classification chapter.

* :func:`class_counts`, :func:`class_weights`, :func:`weighted_cross_entropy`:
  the class-balanced cross-entropy of the guidance paper (Xu et al., Eqs. 1-2),
  ``w_j = 1 - S_j / sum_c S_c`` with ``S_j`` the training samples of class j,
  through :class:`torch.nn.CrossEntropyLoss` (``weight=``).
* :func:`validation_fn`: the ``val_fn(model)`` that :func:`mmlib.train.loop.fit`
  calls after every epoch: the same weighted cross-entropy and the AUC on the
  validation loader, so that the epoch is chosen on validation data only.

Hand-written glue: torch supplies the loss, :func:`mmlib.eval.metrics.binary_metrics`
(scikit-learn) the AUC.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from mmlib.errors import DataError, ParameterError
from mmlib.eval.metrics import binary_metrics
from mmlib.train.loop import ValFn, predict

#: ``logits_fn(model, batch, device)`` -> ``(B, 2)`` logits of one batch.
LogitsFn = Callable[[nn.Module, Mapping[str, Any], torch.device], torch.Tensor]


def class_counts(labels: Iterable[int], num_classes: int = 2) -> np.ndarray:
    """Samples per class ``S_j`` of integer labels in ``[0, num_classes)``."""
    labels = np.asarray(list(labels), dtype=int)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError("training labels", f"labels must lie in [0, {num_classes}), got {sorted(set(labels.tolist()))}")
    return np.bincount(labels, minlength=num_classes)


def class_weights(counts: Sequence[float]) -> torch.Tensor:
    """Guidance paper Eq. 2: ``w_j = 1 - S_j / sum_c S_c`` for class counts ``S``.

    A class with no sample (a training fold holding one class only) is refused:
    its weight would be 1 and the present class's 0, so the loss would vanish.
    """
    s = torch.as_tensor(np.asarray(counts, dtype=float), dtype=torch.float32)
    if s.ndim != 1 or s.numel() < 2:
        raise ParameterError(f"need counts for at least two classes, got {list(np.asarray(counts).tolist())}")
    if (s <= 0).any():
        raise DataError("training labels", f"every class needs at least one training sample, class counts are {s.tolist()}")
    return 1.0 - s / s.sum()


def weighted_cross_entropy(counts: Sequence[float]) -> nn.CrossEntropyLoss:
    """Guidance paper Eq. 1: cross-entropy weighted by :func:`class_weights` of the training ``counts``."""
    return nn.CrossEntropyLoss(weight=class_weights(counts))


def validation_fn(loader, logits_fn: LogitsFn, *, weight: torch.Tensor | None = None,
                  device: str | torch.device = "cpu", precision: str = "fp32", label_key: str = "label") -> ValFn:
    """``val_fn(model)`` -> ``{"loss", "auc"}`` on ``loader``, for :func:`mmlib.train.loop.fit`.

    ``logits_fn(model, batch, device)`` gives a batch's two-class logits;
    ``weight`` (the training fold's :func:`class_weights`) weights the
    cross-entropy as in training, so the validation loss is the training
    objective on unseen cases. The AUC is of the softmax probability of class 1.
    """
    def forward(model, batch, device):
        return {"logits": logits_fn(model, batch, device), "label": batch[label_key]}

    def val_fn(model: nn.Module) -> dict[str, float]:
        out = predict(model, loader, device=device, precision=precision, forward=forward)
        logits, labels = torch.as_tensor(out["logits"]).float(), torch.as_tensor(out["label"]).long()
        loss = nn.functional.cross_entropy(logits, labels, weight=None if weight is None else weight.cpu().float())
        prob = torch.softmax(logits, dim=1)[:, 1].numpy()
        return {"loss": float(loss), "auc": binary_metrics(labels.numpy(), prob, where="validation")["auc"]}

    return val_fn
