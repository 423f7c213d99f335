"""The generic training loop every chapter uses: :func:`fit` and :func:`predict`.

Hand-written (MONAI's ``SupervisedTrainer`` needs ignite and fixes the loss to a
single criterion; the papers need multi-term losses such as DILRAN's
``L = L_p + lambda1 L_s1 + lambda2 L_s2`` and M3's ``0.5 L_s + 0.5 L_f + L_cls``),
kept small:

* ``loss_fn(model, batch, device)`` returns the scalar loss, or a dict with key
  ``"loss"`` plus further scalar terms that are logged (``train_<name>``).
* ``val_fn(model)`` returns validation metrics, logged as ``val_<name>``. Model
  selection (``select_on``) uses these validation metrics only, never test data.
* After every epoch a checkpoint is written atomically; a killed run started again
  with the same arguments resumes at the next epoch. With a ``seed``, every epoch
  reseeds the random generators from ``(seed, epoch)``, so a resumed run ends with
  the same weights as an uninterrupted one.
* One tqdm bar over epochs and one over the batches of the current epoch.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import torch
from monai.data.utils import set_rnd
from tqdm import tqdm

from mmlib.config import resolve_device, seed_everything
from mmlib.errors import DataError, ParameterError
from mmlib.train.checkpoint import load_checkpoint, save_checkpoint
from mmlib.train.precision import autocast_context, grad_scaler, resolve_precision

LossFn = Callable[[torch.nn.Module, Any, torch.device], "torch.Tensor | Mapping[str, Any]"]
ValFn = Callable[[torch.nn.Module], Mapping[str, float]]
ForwardFn = Callable[[torch.nn.Module, Any, torch.device], Mapping[str, Any]]

#: File name of the best-so-far weights, written beside the checkpoint when ``select_on`` is set.
BEST_NAME = "best.pt"


@dataclass
class History:
    """What :func:`fit` did: one record per epoch, plus the best epoch when ``select_on`` was set.

    Each record holds ``epoch`` (1-based), ``train_loss`` (mean over batches),
    ``train_<term>`` for extra loss terms, ``val_<metric>`` for validation metrics,
    ``lr`` (first parameter group) and ``seconds`` (wall time of the epoch).
    """

    epochs: list[dict[str, Any]] = field(default_factory=list)
    select_on: str | None = None
    best_epoch: int | None = None
    best_value: float | None = None
    best_path: Path | None = None

    def to_frame(self) -> pd.DataFrame:
        """Return the per-epoch records as a DataFrame, one row per epoch."""
        return pd.DataFrame(self.epochs, columns=None if self.epochs else ["epoch", "train_loss", "seconds"])


def fit(
    model: torch.nn.Module,
    train_loader: torch.utils.data.DataLoader,
    *,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    max_epochs: int,
    device: str | torch.device = "auto",
    precision: str = "fp32",
    val_fn: ValFn | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    resume: bool = True,
    seed: int | None = None,
    progress: bool = True,
    grad_clip: float | None = None,
    scheduler: Any | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    select_on: str | None = None,
    select_mode: str = "max",
) -> History:
    """Train ``model`` for ``max_epochs`` epochs (resuming from ``checkpoint_path`` if present).

    Parameters
    ----------
    loss_fn
        ``loss_fn(model, batch, device)``: moves the batch to ``device``, runs the
        model and returns a scalar loss tensor, or a dict with ``"loss"`` and other
        scalar terms to log. Runs inside the ``precision`` autocast.
    optimizer
        Built on ``model.parameters()``; its state is checkpointed and restored.
    device, precision
        ``"auto"`` device picks CUDA when present; precision is ``"fp32"``,
        ``"bf16"`` (CPU or CUDA autocast), ``"amp"`` (CUDA float16 + GradScaler) or
        ``"auto"`` (see :mod:`mmlib.train.precision`).
    val_fn
        ``val_fn(model) -> {metric: float}``, called after each epoch under
        ``model.eval()``, :func:`torch.no_grad` and the same autocast.
    checkpoint_path
        Where to write the checkpoint after each epoch (atomically). With
        ``resume=True`` an existing one is loaded and training continues after its
        epoch; a finished run returns at once. ``resume=False`` starts over.
    seed
        Reseeds Python, NumPy and torch (and the loader's generator, if it has one)
        at the start of every epoch from ``(seed, epoch)``: shuffling, dropout and
        random augmentations are then reproducible across kills and resumes.
        Model initialisation is the caller's job (seed before building the model).
    grad_clip
        Maximum global gradient norm (``torch.nn.utils.clip_grad_norm_``), or None.
    scheduler
        A torch LR scheduler stepped once per epoch (``ReduceLROnPlateau`` is
        stepped with the ``select_on`` validation metric, else the train loss).
    on_epoch_end
        Called with the epoch's record after its checkpoint is written.
    select_on, select_mode
        Name of a ``val_fn`` metric (as ``val_fn`` returns it, without ``val_``)
        and ``"max"``/``"min"``: the best epoch is tracked in the History and its
        weights saved as ``best.pt`` beside the checkpoint.

    Raises
    ------
    RuntimeError
        If a batch's loss is NaN or infinite (naming epoch and batch); the broken
        epoch writes no checkpoint.
    DataError
        If the checkpoint to resume from is unreadable or does not fit the model.
    ParameterError
        For invalid arguments.
    """
    _check_fit_arguments(max_epochs, grad_clip, val_fn, select_on, select_mode, seed)
    device = resolve_device(device) if isinstance(device, str) else torch.device(device)
    precision = resolve_precision(precision, device)
    model.to(device)
    scaler = grad_scaler(device, precision)
    checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
    best_path = None if checkpoint_path is None or select_on is None else checkpoint_path.with_name(BEST_NAME)
    history = History(select_on=select_on)

    start = 1
    if checkpoint_path is not None and resume and checkpoint_path.exists():
        state = load_checkpoint(checkpoint_path, model=model, optimizer=optimizer, map_location=device)
        _restore_extra(checkpoint_path, state["extra"], scheduler, scaler, history, select_mode)
        history.epochs = list(state["history"])
        start = state["epoch"] + 1
    if best_path is not None and history.best_epoch is not None:
        history.best_path = best_path

    with tqdm(range(start, max_epochs + 1), desc="epochs", initial=start - 1, total=max_epochs,
              disable=not progress or start > max_epochs) as epochs:
        for epoch in epochs:
            record = _run_epoch(model, train_loader, loss_fn, optimizer, scaler, device, precision, grad_clip,
                                epoch, progress, seed, val_fn, scheduler, select_on)
            history.epochs.append(record)
            if select_on is not None and _improves(record[f"val_{select_on}"], history.best_value, select_mode):
                history.best_epoch, history.best_value = epoch, record[f"val_{select_on}"]
                if best_path is not None:  # written before the checkpoint: a kill in between reruns this epoch
                    save_checkpoint(best_path, model=model, optimizer=None, epoch=epoch, history=history.epochs,
                                    extra={"select_on": select_on, "select_mode": select_mode,
                                           "value": history.best_value})
                    history.best_path = best_path
            if checkpoint_path is not None:
                save_checkpoint(checkpoint_path, model=model, optimizer=optimizer, epoch=epoch,
                                history=history.epochs, extra=_extra_state(scheduler, scaler, history, select_mode))
            epochs.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k not in ("epoch", "seconds")})
            if on_epoch_end is not None:
                on_epoch_end(record)
    return history


def predict(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    *,
    device: str | torch.device = "auto",
    precision: str = "fp32",
    forward: ForwardFn | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Run ``model`` over ``loader`` in eval mode without gradients; concatenate the outputs.

    ``forward(model, batch, device)`` returns a dict of tensors (for example
    ``{"prob": softmax(logits)[:, 1], "label": y}``); each key is concatenated
    along the first axis into a NumPy array (float outputs as float32). Without
    ``forward``, a batch that is a tensor, or a tuple/list whose first item is the
    input, gives ``{"output": model(input)}``.
    """
    device = resolve_device(device) if isinstance(device, str) else torch.device(device)
    forward = forward or _forward_first_item
    model.to(device).eval()
    collected: dict[str, list[np.ndarray]] = {}
    with torch.no_grad(), autocast_context(device, precision):
        for index, batch in enumerate(tqdm(loader, desc="predict", leave=False, disable=not progress)):
            outputs = forward(model, batch, device)
            if collected and set(outputs) != set(collected):
                raise ParameterError(f"forward returned keys {sorted(outputs)} for batch {index}, "
                                     f"but {sorted(collected)} before")
            for key, value in outputs.items():
                collected.setdefault(key, []).append(_to_numpy(value))
    return {key: np.concatenate(parts, axis=0) for key, parts in collected.items()}


def _check_fit_arguments(max_epochs, grad_clip, val_fn, select_on, select_mode, seed) -> None:
    if not isinstance(max_epochs, int) or max_epochs < 1:
        raise ParameterError(f"max_epochs must be a positive integer, got {max_epochs!r}")
    if grad_clip is not None and not grad_clip > 0:
        raise ParameterError(f"grad_clip must be positive or None, got {grad_clip!r}")
    if select_mode not in ("max", "min"):
        raise ParameterError(f"select_mode must be 'max' or 'min', got {select_mode!r}")
    if select_on is not None and val_fn is None:
        raise ParameterError(f"select_on={select_on!r} needs a val_fn (model selection uses validation data only)")
    if seed is not None and (not isinstance(seed, int) or seed < 0):
        raise ParameterError(f"seed must be a non-negative integer or None, got {seed!r}")


def _seed_epoch(seed: int, epoch: int, loader) -> None:
    """Seed every generator from ``(seed, epoch)``, so epoch ``epoch`` draws the same numbers after a resume.

    Covers Python, NumPy and torch, the loader's own generator, and the private
    random states of MONAI random transforms held by the dataset
    (:func:`monai.data.utils.set_rnd`); loader workers derive their seeds from these.
    """
    epoch_seed = int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
    seed_everything(epoch_seed)
    if hasattr(loader, "dataset"):
        set_rnd(loader.dataset, epoch_seed)
    # A loader built with generator=... shuffles (and seeds its workers) from that generator, not the global one.
    for generator in {id(g): g for g in (getattr(loader, "generator", None),
                                         getattr(getattr(loader, "sampler", None), "generator", None))
                      if g is not None}.values():
        generator.manual_seed(epoch_seed)


def _run_epoch(model, loader, loss_fn, optimizer, scaler, device, precision, grad_clip, epoch, progress,
               seed, val_fn, scheduler, select_on) -> dict[str, Any]:
    """Train one epoch, validate, step the scheduler; return the epoch's record."""
    began = time.perf_counter()
    if seed is not None:
        _seed_epoch(seed, epoch, loader)
    record = {"epoch": epoch, **_train_one_epoch(model, loader, loss_fn, optimizer, scaler, device, precision,
                                                  grad_clip, epoch, progress)}
    if "lr" in optimizer.param_groups[0]:
        record["lr"] = float(optimizer.param_groups[0]["lr"])
    if val_fn is not None:
        record.update(_validate(model, val_fn, device, precision))
        if select_on is not None and f"val_{select_on}" not in record:
            raise ParameterError(f"select_on={select_on!r} is not among the metrics val_fn returned "
                                 f"({sorted(k[4:] for k in record if k.startswith('val_'))})")
    if scheduler is not None:
        _step_scheduler(scheduler, record, select_on)
    record["seconds"] = time.perf_counter() - began
    return record


def _train_one_epoch(model, loader, loss_fn, optimizer, scaler, device, precision, grad_clip, epoch, progress):
    """One pass over ``loader``; return the mean loss and the mean of each extra term."""
    model.train()
    sums: dict[str, float] = {}
    n_batches = 0
    with tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not progress) as batches:
        for index, batch in enumerate(batches):
            optimizer.zero_grad(set_to_none=True)
            with autocast_context(device, precision):
                loss, terms = _split_loss(loss_fn(model, batch, device))
            value = float(loss.detach().float())
            if not math.isfinite(value):
                details = ", ".join(f"{k}={v:.4g}" for k, v in terms.items())
                raise RuntimeError(f"training diverged: loss is {value} at epoch {epoch}, batch {index}"
                                   + (f" ({details})" if details else "")
                                   + "; no checkpoint was written for this epoch")
            scaler.scale(loss).backward()
            if grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            for key, term in {"loss": value, **terms}.items():
                sums[key] = sums.get(key, 0.0) + term
            n_batches += 1
            batches.set_postfix(loss=f"{value:.4g}", refresh=False)
    if n_batches == 0:
        raise ParameterError(f"train_loader yielded no batches in epoch {epoch}")
    return {f"train_{key}": total / n_batches for key, total in sums.items()}


def _split_loss(output) -> tuple[torch.Tensor, dict[str, float]]:
    """Split ``loss_fn``'s result into the loss to optimise and the extra terms to log."""
    if isinstance(output, Mapping):
        if "loss" not in output:
            raise ParameterError(f"loss_fn returned a dict without a 'loss' key (keys: {sorted(output)})")
        loss = output["loss"]
        terms = {k: float(v.detach().float()) if torch.is_tensor(v) else float(v)
                 for k, v in output.items() if k != "loss"}
    else:
        loss, terms = output, {}
    if not torch.is_tensor(loss) or loss.ndim != 0:
        raise ParameterError(f"loss_fn must return a scalar tensor as the loss, got {type(loss).__name__} "
                             f"with shape {tuple(getattr(loss, 'shape', ()))}")
    return loss, terms


def _validate(model, val_fn, device, precision) -> dict[str, float]:
    model.eval()
    with torch.no_grad(), autocast_context(device, precision):
        metrics = val_fn(model)
    return {f"val_{k}": float(v) for k, v in metrics.items()}


def _step_scheduler(scheduler, record, select_on) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(record[f"val_{select_on}"] if select_on is not None else record["train_loss"])
    else:
        scheduler.step()


def _improves(value: float, best: float | None, mode: str) -> bool:
    """True when ``value`` is finite and strictly better than ``best`` (ties keep the earlier epoch)."""
    if not math.isfinite(value):
        return False
    return best is None or (value > best if mode == "max" else value < best)


def _extra_state(scheduler, scaler, history: History, select_mode: str) -> dict[str, Any]:
    return {
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else None,
        "select_on": history.select_on,
        "select_mode": select_mode,
        "best_epoch": history.best_epoch,
        "best_value": history.best_value,
    }


def _restore_extra(path: Path, extra: dict[str, Any], scheduler, scaler, history: History, select_mode: str) -> None:
    """Restore scheduler, GradScaler and best-epoch state saved by :func:`_extra_state`."""
    if scheduler is not None:
        if extra.get("scheduler") is None:
            raise DataError(path, "checkpoint holds no scheduler state, but fit() was given a scheduler")
        scheduler.load_state_dict(extra["scheduler"])
    if scaler.is_enabled() and extra.get("scaler"):
        scaler.load_state_dict(extra["scaler"])
    if (extra.get("select_on"), extra.get("select_mode")) == (history.select_on, select_mode):
        history.best_epoch, history.best_value = extra.get("best_epoch"), extra.get("best_value")


def _forward_first_item(model, batch, device) -> dict[str, torch.Tensor]:
    if isinstance(batch, Mapping):
        raise ParameterError("predict() got dict batches: pass forward=(model, batch, device) -> dict of tensors")
    inputs = batch[0] if isinstance(batch, (list, tuple)) else batch
    return {"output": model(inputs.to(device))}


def _to_numpy(value) -> np.ndarray:
    if torch.is_tensor(value):
        value = value.detach()
        if value.is_floating_point():
            value = value.float()
        return np.atleast_1d(value.cpu().numpy())
    return np.atleast_1d(np.asarray(value))
