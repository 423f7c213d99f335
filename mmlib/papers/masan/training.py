"""Training MASAN: the sparse penalty (Eq. 1), the total loss (Eq. 8), pre-training then joint training.

* **Eq. 1**, :func:`sparse_penalty`: ``Omega(h) = lambda sum_i |h_i|`` over the
  codes of an autoencoder (the deepest encoder features), summed per subject
  and averaged over the batch.
* **Reconstruction losses** ``L_s`` and ``L_f``: the mean squared error between
  the T1 (fMRI window) and its reconstruction, plus the branch's Eq. 1 penalty
  (Sec. 2.1: "a sparse penalty term for encoding is added to the loss").
* **Eq. 8**, :func:`masan_losses`: ``L = alpha L_s + beta L_f + L_cls`` with
  ``alpha = beta = 0.5`` (Sec. 3.2) and ``L_cls`` the cross-entropy of Eq. 7,
  class-weighted here by the training split's counts
  (:func:`mmlib.train.classification.weighted_cross_entropy`): the paper says
  "cross-entropy"; with AD a third of the subjects, an unweighted loss at the
  0.5 threshold would trade recall, the metric Table 2 reports, for accuracy.
* **Schedule** (Sec. 2.1, "we first pre-train the feature extraction network"):
  :func:`pretrain_autoencoders` trains the autoencoders alone on ``L_s + L_f``
  (``L_s`` for one branch), then :func:`train_joint` trains everything on Eq. 8;
  Adam at the paper's lr 1e-3 by default. Both run through
  :func:`mmlib.train.loop.fit` (atomic, resumable checkpoints; bf16 autocast on
  CPU with ``precision="bf16"``). There is no validation set (Sec. 3.1: "there
  is no validation set to adjust the hyperparameters"): the last epoch is kept.

Batches are dicts: ``{"t1", "fmri", "label"}`` for :class:`~mmlib.papers.masan.model.MASAN`,
``{"x", "label"}`` for :class:`~mmlib.papers.masan.model.SingleBranchMASAN` and H-FCN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmlib.errors import DataError, ParameterError
from mmlib.papers.masan.hfcn import HFCN, hfcn_loss
from mmlib.papers.masan.model import MASAN, SingleBranchMASAN
from mmlib.train.classification import class_weights
from mmlib.train.loop import History, fit, predict
from mmlib.train.precision import autocast_context

#: Sec. 3.2: alpha = beta = 0.5; Adam, lr 1e-3.
PAPER_ALPHA, PAPER_BETA, PAPER_LR = 0.5, 0.5, 1e-3


def sparse_penalty(codes: torch.Tensor, weight: float) -> torch.Tensor:
    """Eq. 1: ``weight * sum |h|`` per subject, averaged over the batch."""
    if weight < 0:
        raise ParameterError(f"sparsity weight {weight} must be >= 0")
    return weight * codes.float().abs().flatten(1).sum(1).mean()


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, codes: torch.Tensor, sparsity: float) -> torch.Tensor:
    """``L_s`` / ``L_f``: mean squared reconstruction error plus the Eq. 1 penalty."""
    return F.mse_loss(recon.float(), target.float()) + sparse_penalty(codes, sparsity)


def _labels(batch: Mapping[str, Any], device) -> torch.Tensor:
    if "label" not in batch:
        raise DataError("batch", f"no 'label' (keys: {sorted(batch)})")
    return torch.as_tensor(batch["label"]).to(device).long().view(-1)


def _inputs(model: nn.Module, batch: Mapping[str, Any], device) -> dict:
    """The model's outputs for one batch (paired or single-branch)."""
    if isinstance(model, MASAN):
        return model(batch["t1"].to(device), batch["fmri"].to(device))
    return model(batch["x"].to(device))


def _targets(model: nn.Module, batch: Mapping[str, Any], device) -> dict[str, torch.Tensor]:
    if isinstance(model, MASAN):
        return {"t1": batch["t1"].to(device), "fmri": batch["fmri"].to(device)}
    return {"x": batch["x"].to(device)}


def masan_losses(model: nn.Module, batch: Mapping[str, Any], device, *, class_weight: torch.Tensor | None,
                 alpha: float = PAPER_ALPHA, beta: float = PAPER_BETA, sparsity: float = 0.0,
                 classify: bool = True) -> dict[str, torch.Tensor]:
    """Eq. 8 for one batch: ``{"loss", "recon_t1", "recon_fmri", "cls"}`` (single branch: ``"recon"``, ``"cls"``).

    ``classify=False`` is the pre-training objective ``L_s + L_f`` (no ``L_cls``).
    """
    out = _inputs(model, batch, device)
    targets = _targets(model, batch, device)
    recon = {k: reconstruction_loss(out["recon"][k], targets[k], out["codes"][k], sparsity) for k in targets}
    terms = {f"recon_{k}" if len(recon) > 1 else "recon": v for k, v in recon.items()}
    if isinstance(model, MASAN):
        weighted = alpha * recon["t1"] + beta * recon["fmri"] if classify else recon["t1"] + recon["fmri"]
    else:
        weighted = alpha * recon["x"] if classify else recon["x"]
    if classify:
        weight = None if class_weight is None else class_weight.to(device)
        terms["cls"] = F.cross_entropy(out["logits"].float(), _labels(batch, device), weight=weight)
        weighted = weighted + terms["cls"]
    return {"loss": weighted, **terms}


def autoencoder_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The patch autoencoders' parameters (what pre-training updates)."""
    if isinstance(model, MASAN):
        return [*model.t1.encoder.parameters(), *model.fmri.encoder.parameters()]
    if isinstance(model, SingleBranchMASAN):
        return list(model.branch.encoder.parameters())
    raise ParameterError(f"{type(model).__name__} has no patch autoencoders")


def pretrain_autoencoders(model: nn.Module, loader, *, max_epochs: int, lr: float = PAPER_LR, sparsity: float = 0.0,
                          **fit_kwargs) -> History:
    """Reconstruction pre-training (Sec. 2.1): the autoencoders alone on ``L_s + L_f``, Adam at ``lr``."""
    optimizer = torch.optim.Adam(autoencoder_parameters(model), lr=lr)

    def loss_fn(m, batch, device):
        return masan_losses(m, batch, device, class_weight=None, sparsity=sparsity, classify=False)

    return fit(model, loader, loss_fn=loss_fn, optimizer=optimizer, max_epochs=max_epochs, **fit_kwargs)


def train_joint(model: nn.Module, loader, *, counts: Sequence[int], max_epochs: int, lr: float = PAPER_LR,
                weight_decay: float = 0.0, alpha: float = PAPER_ALPHA, beta: float = PAPER_BETA, sparsity: float = 0.0,
                **fit_kwargs) -> History:
    """Joint training on Eq. 8 (all parameters, Adam at ``lr``); class weights from the training ``counts``."""
    weight = class_weights(counts)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)

    def loss_fn(m, batch, device):
        return masan_losses(m, batch, device, class_weight=weight, alpha=alpha, beta=beta, sparsity=sparsity)

    return fit(model, loader, loss_fn=loss_fn, optimizer=optimizer, max_epochs=max_epochs, **fit_kwargs)


def train_hfcn(model: HFCN, loader, *, counts: Sequence[int], max_epochs: int, lr: float = PAPER_LR,
               weight_decay: float = 0.0, **fit_kwargs) -> History:
    """H-FCN: BCE at the patch, region and subject levels (1:1:1), class-weighted as MASAN's loss, Adam."""
    weight = class_weights(counts)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)

    def loss_fn(m, batch, device):
        return hfcn_loss(m(batch["x"].to(device)), _labels(batch, device), weight)

    return fit(model, loader, loss_fn=loss_fn, optimizer=optimizer, max_epochs=max_epochs, **fit_kwargs)


def probabilities(model: nn.Module, loader, *, device, precision: str = "fp32", maps: bool = False) -> dict[str, np.ndarray]:
    """AD probability per subject (``"score"``), its ``"label"`` and, with ``maps``, MASAN's mean spatial fusion weight.

    MASAN models: softmax of the logits; H-FCN: sigmoid of the subject-level
    logit. ``maps=True`` adds ``"spatial"`` ``(N, R)``, the spatial attention of
    Eq. 6 averaged over the fusion levels (Fig. 4).
    """
    def forward(m, batch, device):
        if isinstance(m, HFCN):
            score = torch.sigmoid(m(batch["x"].to(device))["subject"].float())
            out = {"score": score}
        else:
            result = _inputs(m, batch, device)
            out = {"score": torch.softmax(result["logits"].float(), dim=1)[:, 1]}
            if maps:
                spatial = result["maps"].get("spatial") or []
                if not spatial:
                    raise ParameterError("maps=True needs MASAN with fusion='attention'")
                out["spatial"] = torch.stack([s.float() for s in spatial]).mean(0)
        return {**out, "label": batch["label"]}

    return predict(model, loader, device=device, precision=precision, forward=forward)


def recalibrate_batch_norm(model: nn.Module, loader, *, device, precision: str = "fp32") -> int:
    """Re-estimate every BatchNorm's running statistics on ``loader`` with the final weights ("precise BN").

    During training the running means trail weights that keep moving, and at
    evaluation the scores shift: on the development phantoms the AD
    probabilities of a network with a training AUC near 1 all fell below 0.5.
    Resetting the statistics and averaging them (``momentum=None``) over one
    pass of the training set in training mode, without gradients, gives the
    statistics of the weights that are evaluated. Dropout layers stay in
    evaluation mode. Returns the number of BatchNorm layers; none: nothing done.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    model.to(device).eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    with torch.no_grad(), autocast_context(device, precision):
        for batch in loader:
            if isinstance(model, HFCN):
                model(batch["x"].to(device))
            else:
                _inputs(model, batch, device)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()
    return len(norms)


def checkpoint_path(root: str | Path, name: str) -> Path:
    """``root/<name>/last.pt``: one folder per network and stage, so each resumes on its own."""
    return Path(root) / name / "last.pt"
