"""Training: the generic loop (:func:`fit`, :func:`predict`), checkpoints and numeric precision.

Paper chapters write a ``loss_fn(model, batch, device)`` and a ``val_fn(model)``
and hand them to :func:`fit`, which adds per-epoch progress bars, atomic
resumable checkpoints, optional best-epoch selection on validation metrics, and
fp32 / bf16 / CUDA AMP precision. :func:`retain_freed_memory` keeps large CPU
activations from being page-faulted in again every step.
"""

from mmlib.train.checkpoint import load_checkpoint, save_checkpoint
from mmlib.train.loop import History, fit, predict
from mmlib.train.memory import retain_freed_memory
from mmlib.train.precision import autocast_context, grad_scaler, resolve_precision

__all__ = [
    "History",
    "autocast_context",
    "fit",
    "grad_scaler",
    "load_checkpoint",
    "predict",
    "resolve_precision",
    "retain_freed_memory",
    "save_checkpoint",
]
