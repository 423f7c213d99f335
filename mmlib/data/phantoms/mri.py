"""Image formation for the phantoms: tissue contrast mixing, then MONAI's bias field and noise.

A voxel's signal is the partial-volume sum of its tissue fractions times each
tissue's relative signal in the chosen sequence (the mixing is hand-written: it is
one weighted sum). Scanner effects come from MONAI transforms: ``RandBiasField``
(smooth multiplicative bias, a degree-3 polynomial in the exponent),
``RandRicianNoise`` for magnitude MR images and ``RandGaussianNoise`` for CT and
parametric maps. Each transform is seeded per case with ``set_random_state``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from monai.transforms import RandBiasField, RandGaussianNoise, RandRicianNoise
from monai.utils import convert_to_numpy

#: Relative signal of each tissue per MR sequence (white matter on T1 = 1).
#: T1: WM > GM > CSF; T2: CSF bright; FLAIR: CSF suppressed (dark), edema bright.
#: Tumour tissues: ``edema`` (vasogenic), ``solid`` (non-enhancing tumour),
#: ``necrosis`` (fluid-like core). Contrast enhancement is added on top of T1ce
#: by the glioma generator.
MR_CONTRAST: dict[str, dict[str, float]] = {
    "t1": {"gm": 0.70, "wm": 1.00, "csf": 0.25, "edema": 0.64, "solid": 0.60, "necrosis": 0.56},
    "t1ce": {"gm": 0.72, "wm": 1.00, "csf": 0.25, "edema": 0.66, "solid": 0.58, "necrosis": 0.40},
    "t2": {"gm": 0.65, "wm": 0.45, "csf": 1.00, "edema": 0.85, "solid": 0.80, "necrosis": 0.92},
    "flair": {"gm": 0.72, "wm": 0.50, "csf": 0.10, "edema": 0.95, "solid": 0.85, "necrosis": 0.40},
}


def mix(fractions: Mapping[str, np.ndarray], contrast: Mapping[str, float]) -> np.ndarray:
    """Partial-volume signal ``sum_t fraction_t * contrast_t`` over the tissues in ``fractions``."""
    out = None
    for tissue, fraction in fractions.items():
        term = np.float32(contrast[tissue]) * fraction
        out = term if out is None else out + term
    return out.astype(np.float32)


def bias_field(volumes: np.ndarray, seed: int, strength: float = 0.03) -> np.ndarray:
    """Multiply ``volumes`` (``(C, *spatial)``, e.g. the sequences of one session) by one smooth
    random bias field (MONAI ``RandBiasField``, degree 3, the same field for every channel)."""
    transform = RandBiasField(degree=3, coeff_range=(0.0, strength), prob=1.0)
    transform.set_random_state(seed=int(seed))
    field = convert_to_numpy(transform(np.ones((1, *volumes.shape[1:]), np.float32)))
    return (volumes * field).astype(np.float32)


def rician_noise(volumes: np.ndarray, seed: int, sigma: float) -> np.ndarray:
    """Magnitude-image noise of standard deviation ``sigma`` (MONAI ``RandRicianNoise``), any shape.

    Called once on a whole cohort's stack: MONAI's per-call overhead dominates on small volumes.
    """
    transform = RandRicianNoise(prob=1.0, std=float(sigma), sample_std=False)
    transform.set_random_state(seed=int(seed))
    return convert_to_numpy(transform(volumes[None]))[0].astype(np.float32)


def gaussian_noise(volumes: np.ndarray, seed: int, sigma: float) -> np.ndarray:
    """Additive Gaussian noise of standard deviation ``sigma`` (MONAI ``RandGaussianNoise``), any shape."""
    transform = RandGaussianNoise(prob=1.0, std=float(sigma), sample_std=False)
    transform.set_random_state(seed=int(seed))
    return convert_to_numpy(transform(volumes[None]))[0].astype(np.float32)
