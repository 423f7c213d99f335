"""Training checkpoints: written atomically, read back with clear errors.

A checkpoint is one ``torch.save`` file holding a plain dict::

    {"format": "mmlib-checkpoint-1", "epoch": int, "model": state_dict,
     "optimizer": state_dict | None, "history": list[dict], "extra": dict}

It is written through :func:`mmlib.atomic.torch_save` (temporary file + rename), so
a run killed while saving leaves the previous checkpoint intact. It is read with
``torch.load(weights_only=True)``: only tensors and plain Python values are
allowed, so ``history`` and ``extra`` must hold nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mmlib import atomic
from mmlib.errors import DataError

#: Marks a file as written by :func:`save_checkpoint`.
FORMAT = "mmlib-checkpoint-1"
_REQUIRED = ("format", "epoch", "model", "optimizer", "history", "extra")
_MAX_KEYS_SHOWN = 8


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    epoch: int,
    history: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save model and optimizer state after ``epoch`` (1-based, completed) atomically to ``path``.

    ``history`` is the list of per-epoch records so far (plain floats, ints and
    strings); ``extra`` holds any further plain state (scheduler, best value...).
    ``optimizer=None`` saves weights only (as for ``best.pt``).
    """
    state = {
        "format": FORMAT,
        "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "history": [dict(record) for record in history],
        "extra": dict(extra or {}),
    }
    return atomic.torch_save(state, path)


def load_checkpoint(
    path: str | os.PathLike,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint into ``model`` (and ``optimizer`` if given); return the checkpoint dict.

    The model is only touched once the file has been read and its weights match
    the model's parameter names and shapes.

    Raises
    ------
    DataError
        Naming ``path``, when the file is missing, truncated or corrupt, is not an
        mmlib checkpoint, or its weights do not fit the model (the missing,
        unexpected or mis-shaped keys are listed) or the optimizer.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "checkpoint file does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise DataError(path, f"cannot read checkpoint (truncated or corrupt file?): {type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT or any(k not in state for k in _REQUIRED):
        raise DataError(path, f"not an mmlib checkpoint (expected a dict with format {FORMAT!r} and keys {_REQUIRED})")
    _check_state_dict_fits(path, model, state["model"])
    model.load_state_dict(state["model"])
    if optimizer is not None:
        if state["optimizer"] is None:
            raise DataError(path, "checkpoint holds no optimizer state (weights only), cannot resume training from it")
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise DataError(path, f"optimizer state does not fit this optimizer: {exc}") from exc
    return state


def _check_state_dict_fits(path: Path, model: torch.nn.Module, saved: dict[str, torch.Tensor]) -> None:
    """Raise DataError listing missing, unexpected and mis-shaped keys between ``saved`` and ``model``."""
    expected = model.state_dict()
    problems = []
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    if missing:
        problems.append(f"missing keys {_first(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_first(unexpected)}")
    mis_shaped = [
        f"{k} {tuple(saved[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in saved and hasattr(saved[k], "shape") and saved[k].shape != v.shape
    ]
    if mis_shaped:
        problems.append(f"shape mismatch {_first(mis_shaped)}")
    if problems:
        raise DataError(path, "model weights do not fit this model: " + "; ".join(problems))


def _first(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_KEYS_SHOWN])
    more = len(items) - _MAX_KEYS_SHOWN
    return f"[{shown}{f', ... {more} more' if more > 0 else ''}]"
