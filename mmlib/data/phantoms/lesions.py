"""Lesion geometry for the phantoms: irregular blobs as normalised radius fields.

A lesion is described by ``rho(x) = |x - c| / R * exp(irregularity * n(x))`` where
``n`` is a smooth unit-variance random field, so ``rho < 1`` is an irregular blob
of radius about ``R`` mm (round when ``irregularity = 0``), ``rho < 0.6`` its core
and ``rho < k`` a surrounding shell ``k`` times larger (edema, penumbra). Soft
tissue boundaries are logistic in ``rho``. Hand-written: no imaging library
generates parametric lesions.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, special


def smooth_noise(shape: tuple[int, ...], rng: np.random.Generator, sigma_vox: float = 1.5) -> np.ndarray:
    """A Gaussian-smoothed white-noise field rescaled to zero mean and unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_vox, mode="wrap")
    return ((field - field.mean()) / field.std()).astype(np.float32)


def radius_field(world_mm: np.ndarray, centre_mm: np.ndarray, radius_mm: float,
                 irregularity: float, noise: np.ndarray) -> np.ndarray:
    """Normalised radius ``rho`` of an irregular blob (``rho < 1`` inside)."""
    distance = np.linalg.norm(world_mm - np.asarray(centre_mm, dtype=np.float32), axis=-1)
    return (distance / radius_mm * np.exp(irregularity * noise)).astype(np.float32)


def soft_inside(rho: np.ndarray, edge: float, width: float = 0.08) -> np.ndarray:
    """Logistic membership of ``rho < edge`` with a transition ``width`` (in units of ``rho``)."""
    return special.expit((edge - rho) / (width * max(edge, 1e-6))).astype(np.float32)


def pick_voxel_mm(rng: np.random.Generator, candidates: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """MNI coordinates (mm) of a random voxel among ``candidates`` (boolean), jittered within the voxel."""
    index = np.argwhere(candidates)[rng.integers(int(candidates.sum()))]
    position = index + rng.uniform(-0.5, 0.5, size=3)
    return (affine[:3, :3] @ position + affine[:3, 3]).astype(np.float32)
