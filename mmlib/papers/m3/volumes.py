"""M3's volumes as a MONAI dataset: every modality of a case, and its lesion foreground for segmentation.

:class:`M3Volumes` gives ``{modality: (1, D, H, W) float32 in [0, 1], "seg": (1, D,
H, W) uint8 (1 = lesion), "label": int, "case_id": str}`` for the cases of
:mod:`mmlib.papers.m3.cohorts` (phantom arrays or NIfTI paths), built from the
project's MONAI pipelines (:func:`mmlib.data.transforms.array_transforms` and
:func:`~mmlib.data.transforms.volume_transforms`: RAS, percentile rescale to [0, 1]
per modality, the paper's "grayscale histogram normalization" in its simplest
form) plus ``LabelToMaskd`` (the task's foreground labels, both classes alike,
Sec. 2.2.3) and a transpose to the models' ``(C, D, H, W) = (C, z, y, x)``.

Augmentation (training side only), :data:`AUGMENTATIONS`: ``"none"``; ``"flip"``
(left-right flip with probability 0.5); ``"affine"`` (the glioma part's heavy
augmentation: flip 0.25 and a random affine, rotations up to 10 degrees and
scale 0.9-1.2, on every volume). The paper states none; the chapters choose one on
a development draw of phantoms.

**Bad input**, checked when the dataset is built, each a
:class:`~mmlib.errors.DataError` naming the case:

* a missing mask (``seg`` is None) when masks are needed, or a mask with no
  foreground voxel (an empty lesion cannot train the segmentation or steer the
  attention);
* modalities (or the mask) on different grids: array shapes, or NIfTI shapes and
  affines read from the headers;
* a missing file, non-finite voxels in an array, a label other than 0/1.
"""

from __future__ import annotations

from typing import Sequence

import nibabel as nib
import numpy as np
import torch
from monai.data import CacheDataset, DataLoader
from monai.transforms import Compose, EnsureTyped, LabelToMaskd, Resized, Transposed

from mmlib.data.transforms import array_transforms, volume_transforms
from mmlib.data.volume_checks import check_volume_arrays, check_volume_files, checked_spatial_size, holds_arrays
from mmlib.errors import DataError, ParameterError

#: The augmentation settings the chapters can choose (module docstring), as transform arguments.
AUGMENTATIONS = {"none": None, "flip": {"flip_prob": 0.5, "affine_prob": 0.0},
                 "affine": {"flip_prob": 0.25, "affine_prob": 1.0}}
_RAS_TO_MODEL = (0, 3, 2, 1)  # (C, x, y, z) -> (C, z, y, x)
_FITS = ("crop", "resize")


class M3Volumes(CacheDataset):
    """A MONAI dataset of M3 cases (module docstring).

    ``spatial_size`` is ``(D, H, W)`` in model order, or ``None`` to keep the
    volumes' own grid; ``fit="crop"`` pads or crops around the centre (the paper's
    155 x 280 x 280), ``fit="resize"`` resamples the whole volume (``area``;
    nearest for the mask), for CPU runs on real scans. ``with_seg`` adds the
    binary lesion mask. In-memory cases are cached after their deterministic
    steps; file cases are read at every draw.
    """

    def __init__(self, cases: Sequence[dict], *, modalities: Sequence[str], foreground: Sequence[int],
                 train: bool, augment: str = "flip", spatial_size: Sequence[int] | None = None, fit: str = "crop",
                 with_seg: bool = True, seed: int = 0):
        if augment not in AUGMENTATIONS:
            raise ParameterError(f"augment={augment!r} must be one of {list(AUGMENTATIONS)}")
        if fit not in _FITS:
            raise ParameterError(f"fit={fit!r} must be one of {list(_FITS)}")
        if not cases:
            raise ParameterError("M3Volumes needs at least one case")
        self.modalities = tuple(modalities)
        if not self.modalities or len(set(self.modalities)) != len(self.modalities):
            raise ParameterError(f"modalities={list(modalities)} must be distinct names")
        self.foreground = tuple(int(v) for v in foreground)
        self.spatial_size = checked_spatial_size(spatial_size)
        keys = list(self.modalities) + (["seg"] if with_seg else [])
        in_memory = holds_arrays(cases, keys, "M3Volumes")
        items = [checked_case(case, self.modalities, self.foreground, with_seg, in_memory) for case in cases]
        self.case_ids = [item["case_id"] for item in items]
        self.labels = np.array([item["label"] for item in items], dtype=np.int64)
        self.in_memory, self.with_seg = in_memory, with_seg
        transform = self._build_transform(train and AUGMENTATIONS[augment] is not None, AUGMENTATIONS[augment] or {},
                                          fit)
        transform.set_random_state(seed)
        super().__init__(items, transform, cache_rate=1.0 if in_memory else 0.0, num_workers=1, progress=False)

    def _build_transform(self, augment: bool, options: dict, fit: str) -> Compose:
        images, masks = list(self.modalities), ["seg"] if self.with_seg else []
        ras_size = None if self.spatial_size is None else tuple(reversed(self.spatial_size))
        pipeline = array_transforms if self.in_memory else volume_transforms
        # Flattened: MONAI's CacheDataset caches up to the first random transform of the *top-level* list,
        # and a nested Compose counts as random as a whole (nothing would be cached).
        steps = list(pipeline(images, train=augment, mask_keys=masks, spatial_size=ras_size if fit == "crop" else None,
                              **options).transforms)
        if masks:
            steps.append(LabelToMaskd(masks, select_labels=list(self.foreground)))
        if fit == "resize" and ras_size is not None:
            steps.append(Resized(images + masks, spatial_size=ras_size,
                                 mode=["area"] * len(images) + ["nearest"] * len(masks)))
        steps += [Transposed(images + masks, indices=_RAS_TO_MODEL),
                  EnsureTyped(images, data_type="tensor", dtype=torch.float32, track_meta=False)]
        if masks:
            steps.append(EnsureTyped(masks, data_type="tensor", dtype=torch.uint8, track_meta=False))
        return Compose(steps)


def make_loader(dataset: M3Volumes, batch_size: int = 1, shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A MONAI ``DataLoader`` whose shuffle order follows ``seed`` (no worker processes)."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=0,
                      generator=torch.Generator().manual_seed(int(seed)))


def checked_case(case: dict, modalities: Sequence[str], foreground: Sequence[int], with_seg: bool,
                 in_memory: bool) -> dict:
    """The transforms' item for one case, after the bad-input checks of the module docstring."""
    case_id = str(case.get("case_id", "a case without case_id"))
    if case.get("label") not in (0, 1):
        raise DataError(f"case {case_id}", f"label is {case.get('label')!r}, expected 0 or 1")
    keys = list(modalities) + (["seg"] if with_seg else [])
    for key in keys:
        if case.get(key) is None:
            what = "has no lesion mask ('seg'); M3 trains its segmentation on every case's mask" if key == "seg" \
                else f"has no {key!r} modality"
            raise DataError(f"case {case_id}", what)
    volumes = {key: case[key] for key in keys}
    if in_memory:
        check_volume_arrays(f"case {case_id}", volumes)
        seg = volumes.get("seg")
    else:
        check_volume_files(case_id, volumes)
        seg = np.asarray(nib.load(volumes["seg"]).dataobj) if with_seg else None
    if with_seg and not np.isin(seg, list(foreground)).any():
        raise DataError(f"case {case_id}", f"the lesion mask is empty: no voxel with label(s) {list(foreground)} "
                                           f"(labels present: {sorted(np.unique(seg).tolist())[:10]})")
    return {"case_id": case_id, "label": int(case["label"]), **volumes}
