"""Training the guidance-aided model: weighted CE, L_total and Algorithm 1's two stages.

* Weighted cross-entropy (paper Eqs. 1-2), shared with the other classifiers in
  :mod:`mmlib.train.classification`: for BraTS 2018 (75 LGG, 210 HGG) it gives
  LGG:HGG = 2.8:1, the ratio the paper quotes (Sec. IV-C).
* ``L_total = L_p + sum_i L_s,i`` (Eq. 6), with ``L_s,i`` on ``G(t_i)`` (Eq. 3).
* Algorithm 1: stage 1 (lines 1-6) trains the SFE, its dual attention and the
  head G on the primary modality alone (``model.primary``, a DA_RMC); stage 2
  copies blocks 1-3 into every LFE and blocks 4-5 into every HFE (lines 7-10)
  and trains with ``L_total`` (lines 11-22). Line 21 updates only the secondary
  parameters, so by default the primary SFE and G stay frozen in stage 2 (and
  ``L_p`` is a constant, logged but not trained); the guidance and fusion 1x1
  convs and the secondary attention, which only exist in stage 2, train with
  the secondary branches. ``train_primary=True`` trains everything instead.
* Optimiser: Adam, lr 1e-5, weight decay 1e-3 (Sec. IV-C).

Batches are dicts ``{modality: (B, 1, D, H, W), label_key: (B,)}`` (MONAI
dictionary style). :func:`train_stage1` and :func:`train_stage2` run the
project's generic :func:`mmlib.train.loop.fit` (checkpoints, resume, precision).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import nn

from mmlib.errors import DataError, ParameterError
from mmlib.papers.guidance.model import GuidanceModel
from mmlib.train.classification import weighted_cross_entropy
from mmlib.train.loop import History, fit


#: The paper's optimiser settings (Sec. IV-C).
PAPER_LR = 1e-5
PAPER_WEIGHT_DECAY = 1e-3


def _labels(batch: Mapping[str, Any], label_key: str, device) -> torch.Tensor:
    if label_key not in batch:
        raise DataError(f"batch key {label_key!r}", f"missing from the batch (keys: {sorted(batch)})")
    return torch.as_tensor(batch[label_key]).to(device).long().view(-1)


def guidance_losses(outputs: Mapping[str, Any], target: torch.Tensor, criterion: nn.Module) -> dict[str, torch.Tensor]:
    """Eq. 6: ``{"loss": L_total, "primary": L_p, "<modality>": L_s,i ...}`` from :class:`GuidanceModel` outputs."""
    terms = {"primary": criterion(outputs["primary"], target)}
    for m, logits in outputs["secondary"].items():
        terms[m] = criterion(logits, target)
    return {"loss": sum(terms.values()), **terms}


def make_optimizer(params: Iterable[nn.Parameter], lr: float = PAPER_LR, weight_decay: float = PAPER_WEIGHT_DECAY) -> torch.optim.Adam:
    """Adam over the parameters that require gradients (paper: lr 1e-5, weight decay 1e-3)."""
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ParameterError("no trainable parameters were given to the optimiser")
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def stage1_loss_fn(criterion: nn.Module, primary: str = "t1ce", label_key: str = "label"):
    """``loss_fn(model, batch, device)`` for stage 1: ``L_p`` of a DA_RMC (``model.primary``) on the primary modality."""

    def loss_fn(model: nn.Module, batch: Mapping[str, Any], device) -> torch.Tensor:
        if primary not in batch:
            raise DataError(f"modality {primary!r}", f"missing from the batch (keys: {sorted(batch)})")
        return criterion.to(device)(model(batch[primary].to(device)), _labels(batch, label_key, device))

    return loss_fn


def stage2_loss_fn(criterion: nn.Module, label_key: str = "label"):
    """``loss_fn(model, batch, device)`` for stage 2: ``L_total`` (Eq. 6) of a :class:`GuidanceModel`."""

    def loss_fn(model: GuidanceModel, batch: Mapping[str, Any], device) -> dict[str, torch.Tensor]:
        inputs = {m: batch[m].to(device) for m in model.modalities if m in batch}
        return guidance_losses(model(inputs), _labels(batch, label_key, device), criterion.to(device))

    return loss_fn


def prepare_stage2(model: GuidanceModel, train_primary: bool = False) -> list[nn.Parameter]:
    """Algorithm 1 lines 7-10 (copy blocks 1-3 / 4-5 into each branch); return the stage-2 parameters.

    With ``train_primary=False`` (line 21) the primary SFE and G are frozen.
    """
    model.copy_primary_blocks()
    model.freeze_primary(not train_primary)
    return [p for p in model.parameters() if p.requires_grad]


def train_stage1(model: GuidanceModel, train_loader, *, counts: Sequence[float], max_epochs: int,
                 lr: float = PAPER_LR, weight_decay: float = PAPER_WEIGHT_DECAY, label_key: str = "label",
                 **fit_kwargs) -> History:
    """Stage 1 (Algorithm 1 lines 1-6): train ``model.primary`` on the primary modality with ``L_p``.

    ``fit_kwargs`` go to :func:`mmlib.train.loop.fit` (device, precision,
    checkpoint_path, seed, val_fn, ...); ``val_fn`` receives ``model.primary``.
    """
    criterion = weighted_cross_entropy(counts)
    model.freeze_primary(False)
    optimizer = make_optimizer(model.primary.parameters(), lr, weight_decay)
    return fit(model.primary, train_loader, loss_fn=stage1_loss_fn(criterion, model.primary_name, label_key),
               optimizer=optimizer, max_epochs=max_epochs, **fit_kwargs)


def train_stage2(model: GuidanceModel, train_loader, *, counts: Sequence[float], max_epochs: int,
                 train_primary: bool = False, lr: float = PAPER_LR, weight_decay: float = PAPER_WEIGHT_DECAY,
                 label_key: str = "label", **fit_kwargs) -> History:
    """Stage 2 (Algorithm 1 lines 7-22): copy the SFE blocks, then train with ``L_total``.

    Resuming from ``checkpoint_path`` restores the stage-2 weights over the copy.
    """
    if not model.secondary_names:
        raise ParameterError("the model has no secondary modality: stage 2 has nothing to train (use stage 1 only)")
    params = prepare_stage2(model, train_primary)
    optimizer = make_optimizer(params, lr, weight_decay)
    return fit(model, train_loader, loss_fn=stage2_loss_fn(weighted_cross_entropy(counts), label_key),
               optimizer=optimizer, max_epochs=max_epochs, **fit_kwargs)


def head_names(model: GuidanceModel) -> list[str]:
    """The heads' names in order: ``"t1ce"`` (G(f_p)), ``"t1ce+flair"`` (G(t_1)), ... (G(t_M), the prediction)."""
    names = [model.primary_name, *model.secondary_names]
    return ["+".join(names[:i + 1]) for i in range(len(names))]


def head_probabilities(model: GuidanceModel, batch: Mapping[str, Any], device) -> dict[str, torch.Tensor]:
    """HGG probability of every head (Eqs. 1, 3-5) for one batch, named by :func:`head_names`.

    The last head, G(t_M), has seen every modality: it is the model's prediction.
    """
    out = model({m: batch[m].to(device) for m in model.modalities})
    logits = [out["primary"], *(out["secondary"][m] for m in model.secondary_names)]
    return {name: torch.softmax(l.float(), dim=1)[:, 1] for name, l in zip(head_names(model), logits)}
