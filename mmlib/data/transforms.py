"""MONAI transform pipelines for the multimodal 3D volumes.

The training augmentation is the guidance paper's (Sec. IV-A, "Implementation
details"; ``NOTES.md`` "Training"): horizontal (left-right) flip with
probability 0.25, a random affine with rotations in [-10, 10] degrees and scale
in [0.9, 1.2], and an intensity rescale on the 0.5-99.5 percentiles; volumes
are cropped to 150 x 240 x 240 (slices x H x W, i.e. ``spatial_size=(240, 240,
150)`` for RAS arrays). Every step is a MONAI dictionary transform; nothing
here is hand-made.

Image keys are rescaled to [0, 1] and interpolated bilinearly; mask keys are
only loaded, reoriented, flipped and resampled with nearest neighbour, so that
the mask stays aligned with its images.
"""

from __future__ import annotations

import math
from typing import Sequence

from monai.transforms import (
    Compose,
    CropForegroundd,
    EnsureChannelFirstd,
    LoadImaged,
    Orientationd,
    RandAffined,
    RandFlipd,
    Resized,
    ResizeWithPadOrCropd,
    ScaleIntensityRangePercentilesd,
)

from mmlib.errors import ParameterError

#: The four BraTS modalities, the default image keys.
MODALITIES = ("t1", "t1ce", "t2", "flair")


def preparation_steps(
    image_keys: Sequence[str],
    mask_keys: Sequence[str] = (),
    *,
    train: bool = False,
    spatial_size: Sequence[int] | None = None,
    flip_prob: float = 0.25,
    rotate_deg: float = 10.0,
    scale_range: tuple[float, float] = (0.9, 1.2),
    lower: float = 0.5,
    upper: float = 99.5,
    affine_prob: float = 1.0,
    lesion_crop: Sequence[int] | None = None,
) -> list:
    """The steps after loading, shared by :func:`volume_transforms` and :func:`array_transforms`, on channel-first
    RAS volumes.

    ``ScaleIntensityRangePercentilesd(lower, upper)`` to [0, 1] (images only) -> with ``lesion_crop`` (RAS voxels):
    the first mask key's foreground box (``CropForegroundd``) resampled to that size (``Resized``, area averaging;
    nearest for masks), so every lesion fills the box alike (a CPU-sized option that reads the mask at test time
    too, as AGG does) -> for ``train``: ``RandFlipd`` (left-right, ``flip_prob``) and ``RandAffined`` (rotation
    within +-``rotate_deg`` about each axis, a scale factor drawn from ``scale_range`` per axis, applied with
    ``affine_prob``; the paper applies it to every volume) -> ``ResizeWithPadOrCropd(spatial_size)`` when given.
    """
    if not 0.0 <= lower < upper <= 100.0:
        raise ParameterError(f"percentiles must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}")
    if not (0.0 <= flip_prob <= 1.0 and 0.0 <= affine_prob <= 1.0):
        raise ParameterError(f"probabilities must be in [0, 1], got flip_prob={flip_prob}, affine_prob={affine_prob}")
    if not 0.0 < scale_range[0] <= scale_range[1]:
        raise ParameterError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}")
    image_keys, mask_keys = list(image_keys), list(mask_keys)
    all_keys = image_keys + mask_keys
    steps = [ScaleIntensityRangePercentilesd(image_keys, lower=lower, upper=upper, b_min=0.0, b_max=1.0, clip=True)]
    if lesion_crop is not None:
        if not mask_keys:
            raise ParameterError("a lesion-centred crop needs the mask among mask_keys")
        # the box of the mask's foreground (tumour and edema), resampled to lesion_crop: every lesion fills it alike
        steps += [CropForegroundd(all_keys, source_key=mask_keys[0], allow_smaller=True),
                  Resized(all_keys, spatial_size=lesion_crop,
                          mode=["area"] * len(image_keys) + ["nearest"] * len(mask_keys))]
    if train:
        rotate = math.radians(rotate_deg)
        steps += [
            # RAS spatial axis 0 is left-right: the paper's "horizontal flipping".
            RandFlipd(all_keys, prob=flip_prob, spatial_axis=0),
            RandAffined(
                all_keys,
                prob=affine_prob,
                rotate_range=(rotate, rotate, rotate),
                # MONAI's scale_range is an offset from 1, one (low, high) pair per axis:
                # (0.9, 1.2) -> ((-0.1, 0.2),) * 3. A flat pair would mean +-0.1 and +-0.2.
                scale_range=((scale_range[0] - 1.0, scale_range[1] - 1.0),) * 3,
                mode=["bilinear"] * len(image_keys) + ["nearest"] * len(mask_keys),
                padding_mode="zeros",
            ),
        ]
    if spatial_size is not None:
        steps.append(ResizeWithPadOrCropd(all_keys, spatial_size=spatial_size))
    return steps


def volume_transforms(keys: Sequence[str] = MODALITIES, mask_keys: Sequence[str] = (), **options) -> Compose:
    """Load NIfTI files named by ``keys`` (and ``mask_keys``) and prepare them as in the guidance paper.

    Steps: ``LoadImaged`` -> ``EnsureChannelFirstd`` -> ``Orientationd("RAS")``
    -> :func:`preparation_steps`, whose keyword arguments ``options`` are (``train``,
    ``spatial_size``, ``flip_prob``, ``rotate_deg``, ``scale_range``, ``lower``,
    ``upper``, ``affine_prob``, ``lesion_crop``).
    Call ``.set_random_state(seed)`` on the result for reproducible augmentation.
    """
    all_keys = list(keys) + list(mask_keys)
    return Compose(
        [
            LoadImaged(all_keys, image_only=True),
            EnsureChannelFirstd(all_keys),
            # labels=None: read the axes from the image's own space (MONAI 1.6's coming default).
            Orientationd(all_keys, axcodes="RAS", labels=None),
            *preparation_steps(keys, mask_keys, **options),
        ]
    )


def array_transforms(keys: Sequence[str] = MODALITIES, mask_keys: Sequence[str] = (), **options) -> Compose:
    """:func:`volume_transforms` for in-memory 3D arrays (e.g. the phantoms), already in RAS order.

    Starts with ``EnsureChannelFirstd(channel_dim="no_channel")`` instead of
    loading and reorienting; the rest (:func:`preparation_steps`, with ``options``) is identical.
    """
    all_keys = list(keys) + list(mask_keys)
    return Compose(
        [
            EnsureChannelFirstd(all_keys, channel_dim="no_channel"),
            *preparation_steps(keys, mask_keys, **options),
        ]
    )
