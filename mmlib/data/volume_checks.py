"""Checks shared by the MONAI volume datasets (:class:`mmlib.data.glioma_dataset.GliomaVolumes`,
:class:`mmlib.papers.m3.volumes.M3Volumes`), made when a dataset is built: its target size, whether its cases
hold arrays or file paths, and the volumes of one case (in memory or in NIfTI files).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import nibabel as nib
import numpy as np

from mmlib.errors import DataError, ParameterError


def checked_spatial_size(spatial_size: Sequence[int] | None) -> tuple[int, int, int] | None:
    """``spatial_size`` as a tuple of three positive ints (D, H, W), or ``None`` (keep the volumes' own grid)."""
    if spatial_size is None:
        return None
    size = tuple(spatial_size)
    if len(size) != 3 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size):
        raise ParameterError(f"spatial_size={spatial_size!r} must be three positive integers (D, H, W)")
    return tuple(int(s) for s in size)


def holds_arrays(cases: Sequence[dict], keys: Sequence[str], dataset: str) -> bool:
    """True when the cases hold arrays under ``keys``, False when they hold file paths; a mixture is refused
    (``dataset`` names the class to build once per source in the error)."""
    kinds = {isinstance(case.get(key), np.ndarray) for case in cases for key in keys if case.get(key) is not None}
    if len(kinds) > 1:
        raise ParameterError(f"cases mix in-memory arrays and file paths; build one {dataset} per source")
    return kinds == {True}


def check_volume_arrays(where: str, arrays: dict[str, np.ndarray]) -> None:
    """One case's in-memory volumes: each a 3-D array, finite (the ``"seg"`` mask aside), all of one shape.

    A :class:`~mmlib.errors.DataError` at ``where`` (the case) names the first volume that fails.
    """
    ref = None
    for key, array in arrays.items():
        if not isinstance(array, np.ndarray) or array.ndim != 3:
            raise DataError(where, f"{key!r} has shape {np.shape(array)}, expected a 3-D (x, y, z) volume")
        if key != "seg" and not np.all(np.isfinite(array)):
            raise DataError(where, f"{key!r} holds {int(array.size - np.isfinite(array).sum())} NaN/inf voxels")
        if ref is None:
            ref = key
        elif array.shape != arrays[ref].shape:
            raise DataError(where, f"modalities on different grids: {key!r} has shape {array.shape} "
                                   f"but {ref!r} has shape {arrays[ref].shape}")


def check_volume_files(case_id: str, paths: dict[str, str | os.PathLike], atol: float = 1e-3) -> None:
    """One case's volume files: present, readable NIfTI, all on one voxel grid (spatial shape, and affine to ``atol``).

    Reads the headers only (nibabel): MONAI's ``LoadImaged`` reads the voxels later.
    :func:`mmlib.data.io.load_case_volumes` makes the same check but reads every voxel.
    A :class:`~mmlib.errors.DataError` at the failing file names the case and the volume.
    """
    ref = None
    for key, path in paths.items():
        path = Path(path)
        if not path.is_file():
            raise DataError(path, f"case {case_id}: {key!r} file does not exist")
        try:
            header = nib.load(path)
        except (OSError, EOFError, ValueError, nib.filebasedimages.ImageFileError) as exc:
            raise DataError(path, f"case {case_id}: cannot read the NIfTI header of {key!r}: {exc}") from None
        if ref is None:
            ref = (key, path, header.shape[:3], header.affine)
            continue
        ref_key, ref_path, ref_shape, ref_affine = ref
        if header.shape[:3] != ref_shape or not np.allclose(header.affine, ref_affine, atol=atol):
            raise DataError(path, f"case {case_id}: modalities on different grids: {key!r} has shape "
                                  f"{header.shape[:3]} and affine diagonal {np.diag(header.affine)[:3].round(3).tolist()}, "
                                  f"{ref_key!r} ({ref_path}) has {ref_shape} and "
                                  f"{np.diag(ref_affine)[:3].round(3).tolist()}")
