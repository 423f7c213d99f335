"""The data-root setting, device choice and seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmlib.config import REPO_ROOT, data_root, resolve_device, seed_everything
from mmlib.errors import DataError, ParameterError


def test_parameter_wins_over_environment(tmp_path, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("MMLIB_DATA", str(other))
    assert data_root(tmp_path) == tmp_path.resolve()


def test_environment_wins_over_default(tmp_path, monkeypatch):
    monkeypatch.setenv("MMLIB_DATA", str(tmp_path))
    assert data_root() == tmp_path.resolve()


def test_default_is_the_repo_data_folder(monkeypatch):
    monkeypatch.delenv("MMLIB_DATA", raising=False)
    assert data_root() == (REPO_ROOT / "data").resolve()


def test_missing_data_root_names_the_folder_and_its_origin(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DataError, match="no-such-folder.*data_root parameter.*does not exist"):
        data_root(missing)
    monkeypatch.setenv("MMLIB_DATA", str(missing))
    with pytest.raises(DataError, match=r"no-such-folder.*\$MMLIB_DATA"):
        data_root()


def test_auto_device_is_cpu_without_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_bad_device_names_are_parameter_errors():
    with pytest.raises(ParameterError, match="gpu0"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="no GPU"):
            resolve_device("cuda")


def test_seeding_repeats_numpy_and_torch_draws():
    seed_everything(3)
    a = (np.random.rand(3), torch.rand(3))
    seed_everything(3)
    b = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_shown_path_hides_this_machines_folders(tmp_path, monkeypatch):
    from mmlib.config import REPO_ROOT, shown_path

    assert shown_path(REPO_ROOT / "results" / "guidance") == "results/guidance"
    monkeypatch.setenv("MMLIB_DATA", str(tmp_path))
    assert shown_path(tmp_path / "brats-samples") == "$MMLIB_DATA/brats-samples"
    assert shown_path(tmp_path) == "$MMLIB_DATA"
    monkeypatch.delenv("MMLIB_DATA")
    assert shown_path(tmp_path / "x") == str(tmp_path / "x")  # a folder the user named stays as given
