"""Project-wide settings: where the data lives, which device to use, seeding."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

from mmlib.errors import DataError, ParameterError

#: The repository root (the folder holding ``mmlib/``, ``book/`` and ``data/``).
REPO_ROOT = Path(__file__).resolve().parents[1]

#: Name of the environment variable that points at the real datasets.
DATA_ENV_VAR = "MMLIB_DATA"


def data_root(path: str | os.PathLike | None = None) -> Path:
    """Return the data root: ``path`` if given, else ``$MMLIB_DATA``, else ``<repo>/data``.

    The in-repo ``data/`` folder holds only one manifest per dataset (no images),
    so with the fallback every real-data loader reports the dataset as absent and
    the chapters use the synthetic phantoms.

    Raises
    ------
    DataError
        If the chosen folder does not exist.
    """
    if path is not None and str(path) != "":
        root, origin = Path(path).expanduser(), "the data_root parameter"
    elif os.environ.get(DATA_ENV_VAR):
        root, origin = Path(os.environ[DATA_ENV_VAR]).expanduser(), f"${DATA_ENV_VAR}"
    else:
        root, origin = REPO_ROOT / "data", "the default"
    if not root.is_dir():
        raise DataError(root, f"data root (from {origin}) does not exist or is not a folder")
    return root.resolve()


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as the book prints it, without this machine's folders.

    Inside the repository: relative to it (``results/guidance``). Inside the
    folder ``$MMLIB_DATA`` names: ``$MMLIB_DATA/<relative path>``. Anything
    else (a folder the user named) as given.
    """
    path = Path(path).expanduser()
    resolved = path.resolve()
    if resolved.is_relative_to(REPO_ROOT):
        return resolved.relative_to(REPO_ROOT).as_posix() or "."
    env = os.environ.get(DATA_ENV_VAR)
    if env and resolved.is_relative_to(Path(env).expanduser().resolve()):
        rest = resolved.relative_to(Path(env).expanduser().resolve()).as_posix()
        return f"${DATA_ENV_VAR}" + ("" if rest == "." else f"/{rest}")
    return str(path)


def resolve_device(device: str = "auto"):
    """Map ``"auto"`` to CUDA when present, else CPU; pass other names to :class:`torch.device`."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ParameterError(f"device={device!r} is not a torch device name ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device={device!r} asked for CUDA, but torch sees no GPU")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and make torch pick deterministic CPU kernels."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
