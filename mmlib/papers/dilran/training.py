"""DILRAN training loss and the fusion entry point (DILRAN paper Sec. 2.3, Eq. 2).

``L = L_pixel + lambda1 * L_perp + lambda2 * L_grad`` with lambda1 = lambda2 = 0.2
(paper; the authors' code defaults to 0.5 / 0.5), where

- ``L_pixel``: mean squared error between the input x and its reconstruction,
- ``L_perp``: mean squared error between VGG16-BN features of x and of the
  reconstruction after conv1_2, conv2_2 and conv3_3, summed over the three layers
  (:class:`mmlib.nets.perceptual.VGG16BNPerceptual`),
- ``L_grad``: mean squared error between the Sobel x- and y-gradients of x and of
  the reconstruction (MONAI's :class:`~monai.transforms.SobelGradients`, 3x3,
  reflect padding).

All three are means (the "L2" of Eq. 2 read as MSE, as in the authors' code).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import SobelGradients
from torch import nn

from mmlib.config import resolve_device
from mmlib.errors import DataError, ParameterError
from mmlib.papers.dilran.fusion_rules import FusionRule
from mmlib.nets.perceptual import VGG16BNPerceptual
from mmlib.train.loop import fit
from mmlib.train.memory import retain_freed_memory
from mmlib.train.precision import autocast_context


def sobel_gradients(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradients of grey images ``(B, 1, H, W)`` -> ``(B, 2, H, W)``: along H, then along W.

    Differentiable. MONAI's transform works on one channel-first image, so the batch is
    passed as its channels; it returns all H-gradients, then all W-gradients.
    """
    b, _, h, w = x.shape
    grads = SobelGradients(kernel_size=3)(x[:, 0])  # (2B, H, W): both directions
    return torch.as_tensor(grads).reshape(2, b, h, w).transpose(0, 1)


class DilranLoss(nn.Module):
    """Eq. 2: ``mse(x, x_hat) + lambda_perceptual * perceptual + lambda_gradient * gradient``.

    ``perceptual`` is the feature network (default: :class:`VGG16BNPerceptual` without
    weights, i.e. the documented random substitute; pass one built with the ImageNet
    weights file when available). ``forward`` returns the total; :meth:`terms` returns
    all parts.
    """

    def __init__(
        self, lambda_perceptual: float = 0.2, lambda_gradient: float = 0.2, perceptual: nn.Module | None = None
    ):
        super().__init__()
        if lambda_perceptual < 0 or lambda_gradient < 0:
            raise ParameterError(f"loss weights must be >= 0, got {lambda_perceptual}, {lambda_gradient}")
        self.lambda_perceptual, self.lambda_gradient = float(lambda_perceptual), float(lambda_gradient)
        self.perceptual = perceptual if perceptual is not None else VGG16BNPerceptual()

    def terms(self, recon: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return ``{"loss", "pixel", "perceptual", "gradient"}`` for ``(B, 1, H, W)`` tensors."""
        if recon.shape != target.shape or recon.ndim != 4 or recon.shape[1] != 1:
            raise DataError(
                "DILRAN loss input",
                f"needs two (B, 1, H, W) tensors of one shape; got {tuple(recon.shape)} and {tuple(target.shape)}",
            )
        pixel = F.mse_loss(recon, target)
        perceptual = sum(F.mse_loss(a, b) for a, b in zip(self.perceptual(recon), self.perceptual(target)))
        gradient = F.mse_loss(sobel_gradients(recon), sobel_gradients(target))
        total = pixel + self.lambda_perceptual * perceptual + self.lambda_gradient * gradient
        return {"loss": total, "pixel": pixel, "perceptual": perceptual, "gradient": gradient}

    def forward(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.terms(recon, target)["loss"]


def _as_batch(image, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image, dtype=torch.float32)
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3 and t.shape[0] == 1:
        t = t[None]
    if t.ndim != 4 or t.shape[1] != 1:
        raise DataError(name, f"expected a grey image (H, W), (1, H, W) or (B, 1, H, W); got shape {tuple(t.shape)}")
    return t


def bf16_inference_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for fast inference: weights in bfloat16, 4-D weights channels-last, eval mode.

    On CPUs with bf16 instructions a model held in bfloat16 with channels-last tensors runs
    oneDNN's fastest convolution kernels and keeps the element-wise steps (gates, sums,
    BatchNorm) in bfloat16 too, with no casts between them; autocast instead casts every
    convolution's input and output. The original model is left untouched.
    """
    fast = copy.deepcopy(model).eval()
    return fast.to(dtype=torch.bfloat16, memory_format=torch.channels_last)


@torch.no_grad()
def fuse_pair(model, ct, mr, rule: str | FusionRule | None = None, precision: str = "fp32", clamp: bool = True):
    """Fuse a CT and an MR image with a trained fusion autoencoder (paper Fig. 1a).

    ``rule``: a fusion rule or its name; ``None`` uses the model's ``default_rule``
    (``"sfnn-max"`` for DILRAN, ``"fer"`` for MSRPAN, ``"fl1n"`` for MSDRA).
    ``ct`` and ``mr``: arrays or tensors in [0, 1], ``(H, W)``, ``(1, H, W)`` or ``(B, 1, H, W)``,
    of one shape. ``precision``: ``"fp32"``; ``"bf16"``, the whole network in bfloat16
    (:func:`bf16_inference_copy`; about 1 % relative difference from fp32 in the fused
    image); or ``"amp"`` (CUDA float16 autocast). The fusion rule's SVDs always run in float32.
    A ``"bf16"`` result holds bfloat16 values even though it is returned as float32, so the
    float-unique entropy refuses it (:func:`mmlib.papers.dilran.image_metrics.check_fp32_precision`);
    score models in ``"fp32"``.
    Returns the fused ``(B, 1, H, W)`` float32 image on the CPU, clipped to [0, 1] when ``clamp``.
    """
    ct_t, mr_t = _as_batch(ct, "CT image"), _as_batch(mr, "MR image")
    if ct_t.shape != mr_t.shape:
        raise DataError("CT/MR pair", f"image sizes differ: CT {tuple(ct_t.shape[-2:])} vs MR {tuple(mr_t.shape[-2:])}")
    device = next(model.parameters()).device
    if precision == "bf16":
        fast = bf16_inference_copy(model)
        ct_t, mr_t = (t.to(device, torch.bfloat16, memory_format=torch.channels_last) for t in (ct_t, mr_t))
        fused = fast.fuse(ct_t, mr_t, rule)
    else:
        was_training = model.training
        model.eval()
        try:
            with autocast_context(device, precision):
                fused = model.fuse(ct_t.to(device), mr_t.to(device), rule)
        finally:
            model.train(was_training)
    fused = fused.float().cpu()
    return fused.clamp(0.0, 1.0) if clamp else fused


def batch_images(batch) -> torch.Tensor:
    """The image tensor of a loader batch: a tensor, the first item of a tuple/list, or ``batch["image"]``."""
    if isinstance(batch, dict):
        if "image" not in batch:
            raise ParameterError(f"a dict batch needs an 'image' key; got keys {sorted(batch)}")
        return batch["image"]
    return batch[0] if isinstance(batch, (list, tuple)) else batch


def reconstruction_loss_fn(loss: DilranLoss, memory_format: torch.memory_format = torch.contiguous_format):
    """``loss_fn(model, batch, device)`` for :func:`mmlib.train.loop.fit`: all terms of Eq. 2, ``"loss"`` optimised.

    ``memory_format``: the layout the images are put in (channels-last to match a channels-last model).
    """

    def loss_fn(model, batch, device):
        images = batch_images(batch).to(device, memory_format=memory_format)
        return loss.terms(model(images), images)

    return loss_fn


def train_dilran(
    model,
    train_loader,
    *,
    val_loader=None,
    loss: DilranLoss | None = None,
    max_epochs: int = 100,
    lr: float = 1e-4,
    device: str | torch.device = "auto",
    precision: str = "fp32",
    checkpoint_path=None,
    resume: bool = True,
    seed: int | None = 3407,
    progress: bool = True,
    channels_last: bool = True,
):
    """Train a fusion autoencoder as the paper does (Sec. 2.3): reconstruct single CT and MR images
    with the Eq. 2 loss, Adam lr 1e-4, 100 epochs (batch size 4 is the loader's), seed 3407.

    With ``val_loader`` the mean validation loss (same Eq. 2) is logged each epoch and the best
    epoch (lowest ``val_loss``) is saved as ``best.pt`` beside ``checkpoint_path``: selection on
    validation data only (the authors selected on test SSIM, NOTES.md). Checkpoints are written
    atomically and resumed by :func:`mmlib.train.loop.fit`. Returns its ``History``.

    ``channels_last`` (default) puts the model, the perceptual network and the images in
    channels-last layout, for which oneDNN has faster convolution kernels
    (``benchmarks/dilran_speed.py``). The numbers are those of the plain layout up to float rounding.
    On the CPU, freed memory is kept in the process (:func:`mmlib.train.memory.retain_freed_memory`):
    whole-image activations exceed glibc's mmap threshold and would otherwise be page-faulted in
    afresh every step.
    """
    loss = loss if loss is not None else DilranLoss()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    target = resolve_device(device) if isinstance(device, str) else torch.device(device)
    if target.type == "cpu":
        retain_freed_memory()
    loss.to(target, memory_format=memory_format)
    model.to(memory_format=memory_format)
    val_fn = None
    if val_loader is not None:

        def val_fn(m):
            dev = next(m.parameters()).device
            totals: dict[str, float] = {}
            n = 0
            for batch in val_loader:
                images = batch_images(batch).to(dev, memory_format=memory_format)
                for key, value in loss.terms(m(images), images).items():
                    totals[key] = totals.get(key, 0.0) + float(value) * len(images)
                n += len(images)
            if n == 0:
                raise ParameterError("val_loader yielded no images")
            return {key: total / n for key, total in totals.items()}

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return fit(
        model,
        train_loader,
        loss_fn=reconstruction_loss_fn(loss, memory_format),
        optimizer=optimizer,
        max_epochs=max_epochs,
        device=device,
        precision=precision,
        val_fn=val_fn,
        checkpoint_path=checkpoint_path,
        resume=resume,
        seed=seed,
        progress=progress,
        select_on="loss" if val_fn is not None else None,
        select_mode="min",
    )
