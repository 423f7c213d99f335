"""Numeric precision for training and inference: fp32, bf16 autocast, or CUDA AMP.

Three settings, all built on :func:`torch.autocast` and :class:`torch.amp.GradScaler`:

``"fp32"``
    Plain float32 everywhere. The default on CPU, and the reference numerics.
``"bf16"``
    ``torch.autocast(device.type, dtype=torch.bfloat16)``: matmuls and convolutions
    run in bfloat16, weights and the optimiser stay in float32. On CPUs with bf16
    instructions this is several times faster than fp32 (about 5x on this project's
    machines), but it changes the numbers (losses agree to about 1e-2, not bit for
    bit), so it is opt-in on CPU: ``"auto"`` never picks it there.
``"amp"``
    CUDA automatic mixed precision: ``torch.autocast("cuda", dtype=torch.float16)``
    plus a :class:`~torch.amp.GradScaler` that scales the loss so float16 gradients
    do not underflow. CUDA only.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from mmlib.errors import ParameterError

#: The precision names :func:`autocast_context` accepts (``"auto"`` is resolved first).
PRECISIONS = ("fp32", "bf16", "amp")


def resolve_precision(precision: str = "auto", device: torch.device | str = "cpu") -> str:
    """Map ``"auto"`` to ``"amp"`` on CUDA and ``"fp32"`` elsewhere; check any other name.

    bf16 is never chosen automatically on CPU because it changes the numerics;
    ask for it by name when speed matters more than bit-exact fp32 results.

    Raises
    ------
    ParameterError
        For an unknown name, or ``"amp"`` on a device other than CUDA.
    """
    device = torch.device(device)
    if precision == "auto":
        return "amp" if device.type == "cuda" else "fp32"
    if precision not in PRECISIONS:
        raise ParameterError(f"precision={precision!r} is not one of 'auto', {', '.join(map(repr, PRECISIONS))}")
    if precision == "amp" and device.type != "cuda":
        raise ParameterError(
            f"precision='amp' (float16 autocast + GradScaler) needs a CUDA device, got {device.type!r}; "
            "use 'bf16' for fast reduced precision on CPU or 'fp32'"
        )
    return precision


def autocast_context(device: torch.device | str, precision: str) -> AbstractContextManager:
    """Return the context manager that runs forward passes in ``precision`` on ``device``.

    ``"fp32"`` gives a :func:`contextlib.nullcontext`, ``"bf16"`` a bfloat16
    :func:`torch.autocast`, ``"amp"`` a float16 CUDA :func:`torch.autocast` (pair it
    with :func:`grad_scaler` when training).

    Raises
    ------
    ParameterError
        As :func:`resolve_precision` (``"auto"`` is accepted and resolved).
    """
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "amp":
        return torch.autocast("cuda", dtype=torch.float16)
    return nullcontext()


def grad_scaler(device: torch.device | str, precision: str) -> torch.amp.GradScaler:
    """Return a :class:`torch.amp.GradScaler`, enabled only for ``"amp"``.

    A disabled scaler is a pass-through (``scale`` returns the loss, ``step`` calls
    the optimiser), so a training loop can use the same code for every precision.
    """
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    return torch.amp.GradScaler(device.type, enabled=precision == "amp")
