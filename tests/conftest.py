"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmlib.config import DATA_ENV_VAR


@pytest.fixture
def real_data_root():
    """Return a function ``need(dataset_folder) -> Path`` that skips with a reason when absent.

    The real datasets live outside the repository (CI points ``$MMLIB_DATA`` at
    ``../shared/data``); without them these tests are skipped, never faked.
    """

    def need(folder: str) -> Path:
        root = os.environ.get(DATA_ENV_VAR)
        if not root:
            pytest.skip(f"${DATA_ENV_VAR} is not set: real dataset {folder!r} is not available here")
        path = Path(root) / folder
        if not path.is_dir():
            pytest.skip(f"real dataset folder {path} is absent")
        return path

    return need


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run torch on one thread: the tests use tiny tensors, for which two OpenMP
    threads on a 2-core machine mostly wait on each other (measured 20-40x slower
    while the other core was busy)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
