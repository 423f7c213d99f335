"""The real MNI152 template shipped inside nilearn's wheel, as tissue fractions on small grids.

nilearn's ``load_mni152_gm_template``, ``load_mni152_wm_template`` and
``load_mni152_brain_mask`` read files bundled in ``nilearn/datasets/data`` (ICBM
2009a symmetric), so nothing is downloaded. CSF is what the brain mask holds
beyond grey and white matter (ventricles, sulci). Maps are smoothed to the target
voxel size (nilearn ``smooth_img``) and resampled (nilearn ``resample_img``) onto an
isotropic grid that fits the brain's bounding box, so every phantom volume has a
correct RAS+ affine in MNI millimetres. Results are cached (``functools.lru_cache``)
and returned read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import nibabel as nib
import numpy as np
from nibabel.affines import apply_affine
from nilearn import datasets, image
from scipy import ndimage

from mmlib.errors import ParameterError


@dataclass(frozen=True)
class TissueMaps:
    """Tissue fractions in [0, 1] on one grid (read-only float32 arrays)."""

    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    brain: np.ndarray
    depth_mm: np.ndarray  #: distance (mm) from each brain voxel to the brain's outer surface; 0 outside
    affine: np.ndarray  #: voxel -> MNI mm

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.gm.shape

    @property
    def voxel_mm(self) -> float:
        return float(abs(self.affine[0, 0]))

    def world_mm(self) -> np.ndarray:
        """MNI coordinates (mm) of every voxel centre, shape ``(*shape, 3)``."""
        return world_mm(self.affine, self.shape)


def world_mm(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """MNI coordinates (mm) of every voxel centre of a grid, shape ``(*shape, 3)``."""
    return apply_affine(affine, np.moveaxis(np.indices(shape), 0, -1)).astype(np.float32)


def mni_to_voxel(affine: np.ndarray, xyz_mm) -> np.ndarray:
    """Continuous voxel coordinates of MNI points ``xyz_mm`` (shape ``(..., 3)``)."""
    return apply_affine(np.linalg.inv(affine), np.asarray(xyz_mm, dtype=float))


@lru_cache(maxsize=2)
def native_tissues(resolution: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(gm, wm, brain, affine)`` of nilearn's MNI152 at ``resolution`` mm (1 or 2), GM/WM inside the mask."""
    if resolution not in (1, 2):
        raise ParameterError(f"resolution={resolution!r}: nilearn ships the MNI152 template at 1 or 2 mm")
    brain_img = datasets.load_mni152_brain_mask(resolution=resolution)
    brain = (brain_img.get_fdata() > 0.5).astype(np.float32)
    gm = datasets.load_mni152_gm_template(resolution=resolution).get_fdata().astype(np.float32) * brain
    wm = datasets.load_mni152_wm_template(resolution=resolution).get_fdata().astype(np.float32) * brain
    wm = np.minimum(wm, 1.0 - gm)
    for array in (gm, wm, brain):
        array.flags.writeable = False
    return gm, wm, brain, brain_img.affine.copy()


def brain_grid_affine(shape: tuple[int, int, int], pad_mm: float = 0.0) -> np.ndarray:
    """Affine of an isotropic grid of ``shape`` voxels centred on the brain's bounding box (+ ``pad_mm``)."""
    _, _, brain, affine = native_tissues(2)
    idx = np.argwhere(brain > 0)
    corners = apply_affine(affine, np.stack([idx.min(0), idx.max(0)]))
    low, high = corners.min(0) - pad_mm, corners.max(0) + pad_mm
    voxel = float(np.max((high - low) / np.asarray(shape)))
    centre = (low + high) / 2.0
    grid = np.diag([voxel, voxel, voxel, 1.0])
    grid[:3, 3] = centre - voxel * (np.asarray(shape) - 1) / 2.0
    return grid


def resample_fraction(data: np.ndarray, source_affine: np.ndarray, target_affine: np.ndarray,
                      shape: tuple[int, ...]) -> np.ndarray:
    """Smooth a fraction map to the target voxel size, then resample it (nilearn), as float32 in [0, 1]."""
    source_voxel = float(np.abs(np.linalg.det(source_affine[:3, :3])) ** (1 / 3))
    target_voxel = float(np.abs(np.linalg.det(target_affine[:3, :3])) ** (1 / 3))
    img = nib.Nifti1Image(np.asarray(data, dtype=np.float32), source_affine)
    if target_voxel > source_voxel:
        img = image.smooth_img(img, fwhm=float(np.sqrt(target_voxel**2 - source_voxel**2)))
    out = image.resample_img(img, target_affine=target_affine, target_shape=tuple(shape),
                             interpolation="linear", force_resample=True, copy_header=True)
    return np.clip(out.get_fdata(), 0.0, 1.0).astype(np.float32)


@lru_cache(maxsize=16)
def tissue_maps(shape: tuple[int, int, int] = (32, 40, 32), pad_mm: float = 0.0) -> TissueMaps:
    """GM / WM / CSF / brain fractions of the MNI152 template on a ``shape`` grid (cached).

    The grid is isotropic and just covers the brain (``pad_mm`` adds a margin), so
    the default ``(32, 40, 32)`` has about 4.4 mm voxels.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 4:
        raise ParameterError(f"shape={shape!r} must be three sizes >= 4")
    gm, wm, brain, source = native_tissues(2)
    target = brain_grid_affine(shape, pad_mm)
    gm_t, wm_t, brain_t = (resample_fraction(m, source, target, shape) for m in (gm, wm, brain))
    wm_t = np.minimum(wm_t, np.maximum(brain_t - gm_t, 0.0))
    csf_t = np.clip(brain_t - gm_t - wm_t, 0.0, 1.0)
    voxel = float(abs(target[0, 0]))
    depth = ndimage.distance_transform_edt(brain_t > 0.5, sampling=voxel).astype(np.float32)
    maps = TissueMaps(gm=gm_t, wm=wm_t, csf=csf_t, brain=brain_t, depth_mm=depth, affine=target)
    for array in (maps.gm, maps.wm, maps.csf, maps.brain, maps.depth_mm, maps.affine):
        array.flags.writeable = False
    return maps
