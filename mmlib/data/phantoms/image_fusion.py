"""Paired CT-like / MRI-like 2-D axial slices for image fusion (DILRAN chapter).

Mimics the Harvard Whole Brain Atlas pairs the DILRAN paper fuses (Zhou et al.,
Sec. 4.1: 184 co-registered CT-MRI pairs, 256 x 256). A head model is built once
on nilearn's 1 mm MNI152 grid: GM / WM / CSF from the template, then, by the
distance outside the brain mask (scipy ``distance_transform_edt``), 2 mm of
subarachnoid CSF, a skull shell 6 to 8 mm thick (thicker towards the front and
back) and 5 mm of scalp. Both images sample the same model, so each pair is
perfectly co-registered:

- CT: bone bright (1.0), brain soft tissue at low contrast (GM 0.30, WM 0.27,
  CSF 0.18, scalp 0.25), Gaussian noise sd 0.01.
- MRI (T2-like): CSF bright (1.0), GM 0.55 > WM 0.35 with sharp boundaries,
  cortical bone dark (0.02), scalp 0.45, Rician noise sd 0.02.

Each series is one "patient": its slices are cut through the head after a random
rigid-plus-scale transform (yaw +-6 deg, pitch and roll +-3 deg, scale 0.92-1.08,
shift +-4 mm) and rescaled by a per-series gain per modality (0.85-1.1), so
cross-validation splits must group slices by ``cohort.series``. Rows of a slice
run anterior to posterior and columns from the patient's right to left
(radiological view, as the atlas shows them). Values lie in [0, 1]. There is no
class: ``labels`` are all 0 (``class_names == ["pair"]``) and there is no
difficulty knob.
"""

from __future__ import annotations

import warnings

from functools import lru_cache

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn import image
from scipy import ndimage
from scipy.spatial.transform import Rotation

from mmlib.data.phantoms import mri
from mmlib.data.phantoms.anatomy import native_tissues
from mmlib.data.phantoms.cohort import PhantomCohort
from mmlib.data.phantoms.sampling import case_seeds, check_count

LAYERS = ("gm", "wm", "csf", "bone", "scalp")
CT_CONTRAST = {"gm": 0.30, "wm": 0.27, "csf": 0.18, "bone": 1.0, "scalp": 0.25}
MRI_CONTRAST = {"gm": 0.55, "wm": 0.35, "csf": 1.0, "bone": 0.02, "scalp": 0.45}
FIELD_OF_VIEW_MM = 200.0
SLAB_MM = (-30.0, 65.0)  #: first and last slice height (MNI z)
HEAD_CENTRE_MM = np.array([0.0, -18.0, 17.5])


def image_fusion_phantoms(*, n_series: int = 10, slices_per_series: int = 18, size: int = 128,
                    seed: int = 0) -> PhantomCohort:
    """``images["ct"]`` and ``images["mri"]`` of shape ``(n_series * slices_per_series, size, size)``."""
    n_series = check_count("n_series", n_series)
    slices_per_series = check_count("slices_per_series", slices_per_series)
    size = check_count("size", size, 16)
    rng = np.random.default_rng(seed)
    pixel = FIELD_OF_VIEW_MM / size
    head = _head_model(round(pixel, 3))
    base = _slice_grid_affine(size, slices_per_series)
    seeds = case_seeds(rng, n_series)
    ct, mr, rows = [], [], []
    for s in range(n_series):
        angles = rng.uniform([-6, -3, -3], [6, 3, 3])
        scale, shift = rng.uniform(0.92, 1.08), rng.uniform(-4, 4, size=3) * [1, 1, 0.75]
        gains = rng.uniform(0.85, 1.1, size=2)
        layers = _cut(head, _series_transform(angles, scale, shift) @ base, (size, size, slices_per_series))
        ct.append(gains[0] * mri.mix(layers, CT_CONTRAST))
        mr.append(gains[1] * mri.mix(layers, MRI_CONTRAST))
        for k in range(slices_per_series):
            rows.append({"series": f"fusion-s{s:02d}", "slice": k, "z_mm": float(base[2, 3] + k * base[2, 2]),
                         "yaw_deg": angles[0], "pitch_deg": angles[1], "roll_deg": angles[2], "scale": scale,
                         "ct_gain": gains[0], "mri_gain": gains[1]})
    ct = np.moveaxis(np.stack(ct), -1, 1).reshape(-1, size, size)
    mr = np.moveaxis(np.stack(mr), -1, 1).reshape(-1, size, size)
    ct = np.clip(mri.gaussian_noise(ct, int(seeds[0]), 0.01), 0.0, 1.0)
    mr = np.clip(mri.rician_noise(mr, int(seeds[-1]) + 1, 0.02), 0.0, 1.0)
    metadata = pd.DataFrame(rows)
    case_ids = [f"{r['series']}-z{r['slice']:02d}" for r in rows]
    metadata.insert(0, "class_name", "pair")
    metadata.insert(0, "label", 0)
    metadata.insert(0, "case_id", case_ids)
    slice_affine = base.copy()
    slice_affine[2, 3] = 0.0
    return PhantomCohort(images={"ct": ct.astype(np.float32), "mri": mr.astype(np.float32)}, masks=None,
                         labels=np.zeros(len(rows), dtype=int), class_names=["pair"], case_ids=case_ids,
                         affine=slice_affine, metadata=metadata, series=metadata["series"].tolist())


@lru_cache(maxsize=1)
def _head_layers() -> nib.Nifti1Image:
    """4-D image of the head layers (``LAYERS`` order) on nilearn's 1 mm MNI152 grid."""
    gm, wm, brain, affine = native_tissues(1)
    outside_mm = ndimage.distance_transform_edt(brain < 0.5)
    y_mm = (affine[1, 1] * np.arange(brain.shape[1]) + affine[1, 3])[None, :, None]  # the MNI grid is axis-aligned
    skull_outer = 2.0 + 6.0 + 2.0 * np.abs(y_mm + 18.0) / 90.0
    layers = np.stack([
        gm, wm,
        np.clip(brain - gm - wm, 0, 1) + ((outside_mm > 0) & (outside_mm <= 2.0)),
        (outside_mm > 2.0) & (outside_mm <= skull_outer),
        (outside_mm > skull_outer) & (outside_mm <= skull_outer + 5.0),
    ], axis=-1).astype(np.float32)
    return nib.Nifti1Image(layers, affine)


@lru_cache(maxsize=2)
def _head_model(pixel_mm: float) -> nib.Nifti1Image:
    """The head layers smoothed (nilearn ``smooth_img``) to a ``pixel_mm`` grid before resampling."""
    img = _head_layers()
    return image.smooth_img(img, fwhm=float(np.sqrt(pixel_mm**2 - 1.0))) if pixel_mm > 1 else img


def _slice_grid_affine(size: int, n_slices: int) -> np.ndarray:
    """Voxel -> MNI mm of the slab: rows anterior -> posterior, columns right -> left, slices upward."""
    pixel = FIELD_OF_VIEW_MM / size
    spacing = (SLAB_MM[1] - SLAB_MM[0]) / max(n_slices - 1, 1)
    affine = np.zeros((4, 4))
    affine[1, 0], affine[0, 1], affine[2, 2], affine[3, 3] = -pixel, -pixel, spacing, 1.0
    affine[:3, 3] = [HEAD_CENTRE_MM[0] + pixel * (size - 1) / 2, HEAD_CENTRE_MM[1] + pixel * (size - 1) / 2,
                     SLAB_MM[0]]
    return affine


def _series_transform(angles_deg, scale: float, shift_mm) -> np.ndarray:
    """World -> world: rotate (yaw, pitch, roll) and scale about the head centre, then shift."""
    linear = Rotation.from_euler("zxy", angles_deg, degrees=True).as_matrix() * scale
    transform = np.eye(4)
    transform[:3, :3] = linear
    transform[:3, 3] = HEAD_CENTRE_MM + np.asarray(shift_mm) - linear @ HEAD_CENTRE_MM
    return transform


def _cut(head: nib.Nifti1Image, target_affine: np.ndarray, shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Resample the head layers (nilearn ``resample_img``) onto one series' slab."""
    with warnings.catch_warnings():
        # nilearn warns that the layers are binary: linear interpolation is the point here, it turns the
        # tissue indicators into partial-volume fractions at the tissue borders of the tilted slab.
        warnings.filterwarnings("ignore", message="Resampling binary images with continuous or linear",
                                category=UserWarning)
        out = image.resample_img(head, target_affine=target_affine, target_shape=shape, interpolation="linear",
                                 force_resample=True, copy_header=True).get_fdata()
    return {name: np.clip(out[..., k], 0.0, 1.0).astype(np.float32) for k, name in enumerate(LAYERS)}
