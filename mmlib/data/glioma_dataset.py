"""One data pipeline for the glioma-grading chapters: phantoms on a CPU, BraTS 2018/2019 on a GPU.

The guidance paper (Xu et al., Sec. IV-A; Table II) grades gliomas as LGG (label
0) or HGG (label 1) on BraTS 2018 and 2019 with 3-fold cross-validation. The
experiment chapters get their cases from :func:`glioma_cases`, wrap them in
:class:`GliomaVolumes` and iterate :func:`make_loader`; which data they run on is
a parameter only:

- ``"glioma-phantoms"``: the synthetic multimodal phantoms of
  :func:`mmlib.data.phantoms.glioma_phantoms` (in-memory arrays; the CPU default).
- ``"brats-samples"``, ``"brats2018"``, ``"brats2019"``, ``"brats2020"``: a folder
  of that name under the data root, read by :func:`mmlib.data.brats.discover_brats`
  (file paths, loaded by MONAI when a sample is drawn).

Every batch is ``{modality: (B, 1, D, H, W) float32 in [0, 1], "label": (B,)
int64, "case_id": [B names]}`` (plus ``"seg"`` on request), the input of
:mod:`mmlib.papers.guidance.rmc`, :mod:`mmlib.papers.guidance.model` and :mod:`mmlib.papers.guidance.training`.

**Axis order.** NIfTI volumes are reoriented to RAS and phantom arrays already
are RAS, so a transformed volume is ``(C, x, y, z)``. The models take slices on
their depth axis, so a final ``Transposed(indices=(0, 3, 2, 1))`` gives ``(C, D,
H, W) = (C, z, y, x)``: D is the axial slice index (the paper's 150 slices), H
runs posterior to anterior, W left to right. ``spatial_size`` is given in this
model order, ``(D, H, W)``; the paper's crop is :data:`PAPER_SPATIAL_SIZE`.

**Bad input.** A case without a requested modality, a missing file, modalities
(or a mask) whose shapes or voxel grids differ, non-finite array values, a case
without an LGG/HGG grade: :class:`~mmlib.errors.DataError` naming the case and
the problem. A fold whose train or test set holds one class only:
:func:`check_fold_classes` raises :class:`~mmlib.errors.ParameterError`.

**Missing secondary modalities (Table VII).** The guidance model is built for one
set of modalities; Table VII trains one model per subset of secondary
modalities. Pass that subset as ``modalities=``: only those are loaded and
checked, so a case lacking a modality outside the subset is fine, and a case
lacking one inside it is an error (never a zero-filled volume).
"""

from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np
import torch
from monai.data import CacheDataset, DataLoader
from monai.transforms import Compose, DeleteItemsd, EnsureTyped, Resized, Transposed

from mmlib.config import data_root as resolve_data_root
from mmlib.config import shown_path
from mmlib.data.brats import discover_brats
from mmlib.data.phantoms import glioma_phantoms
from mmlib.data.transforms import array_transforms, volume_transforms
from mmlib.data.volume_checks import check_volume_arrays, check_volume_files, checked_spatial_size, holds_arrays
from mmlib.errors import DataError, ParameterError

logger = logging.getLogger(__name__)

#: Datasets :func:`glioma_cases` knows: the phantoms, then folders under the data root.
DATASETS = ("glioma-phantoms", "brats-samples", "brats2018", "brats2019", "brats2020")
#: Class index of each grade (the paper's positive class is HGG).
GRADE_LABELS = {"LGG": 0, "HGG": 1}
#: The modalities in the paper's priority order: T1ce is the primary modality (Sec. IV-D, Table VII).
PRIORITY_ORDER = ("t1ce", "t2", "flair", "t1")
#: The paper's input size, (D, H, W) = 150 slices of 240 x 240 (Sec. IV-A, "Implementation details").
PAPER_SPATIAL_SIZE = (150, 240, 240)

_RAS_TO_MODEL = (0, 3, 2, 1)  # (C, x, y, z) -> (C, z, y, x) = (C, D, H, W)
_FITS = ("crop", "resize", "lesion")
#: Training augmentations: the paper's (flip p=0.25 and a random affine on every volume), flips only, off.
AUGMENTATIONS = {"paper": {"flip_prob": 0.25, "affine_prob": 1.0}, "flip": {"flip_prob": 0.5, "affine_prob": 0.0},
                 "off": None}


def glioma_cases(
    dataset: str,
    data_root: str | os.PathLike | None = None,
    *,
    n_cases: int = 60,
    shape: tuple[int, int, int] = (32, 40, 32),
    difficulty: float = 0.5,
    seed: int = 0,
    design: str = "factors",
) -> list[dict]:
    """The LGG/HGG cases of ``dataset`` as dicts for :class:`GliomaVolumes` and :mod:`mmlib.data.splits`.

    Each dict holds ``case_id``, ``label`` (0 LGG, 1 HGG), ``class_name``, ``group``
    (the patient, for patient-level folds), one key per modality (``t1``, ``t1ce``,
    ``t2``, ``flair``: a file path for BraTS, an ``(x, y, z)`` RAS array for the
    phantoms) and ``seg`` (the BraTS label map, path or array, or ``None``).

    ``n_cases``, ``shape`` (RAS voxels), ``difficulty``, ``seed`` and ``design``
    (:data:`mmlib.data.phantoms.glioma.DESIGNS`) only shape the phantoms. The data root is checked for the phantoms too: one set to a folder
    that does not exist (``data_root`` or ``$MMLIB_DATA``) is a mistake worth
    stopping for, not something to ignore silently. BraTS folders are ``<data_root>/<dataset>``; cases whose label is
    not a grade (``glioma``, ``metastasis`` or none) are left out and the reason
    is logged as a warning.

    Raises
    ------
    ParameterError
        Unknown ``dataset`` (the message lists the options).
    DataError
        The folder is absent or unreadable (:func:`~mmlib.data.brats.discover_brats`),
        or no case in it has an LGG/HGG grade.
    """
    if dataset not in DATASETS:
        raise ParameterError(f"dataset={dataset!r} is not known; choose one of {list(DATASETS)}")
    root = resolve_data_root(data_root)  # a data root set to a missing folder is an error, phantoms or not
    if dataset == "glioma-phantoms":
        return _phantom_cases(n_cases, shape, difficulty, seed, design)
    folder = root / dataset
    cases, excluded = [], []
    for case in discover_brats(folder):
        if case.label not in GRADE_LABELS:
            excluded.append(f"{case.case_id} ({case.label or 'no label'})")
            continue
        cases.append({"case_id": case.case_id, "label": GRADE_LABELS[case.label], "class_name": case.label,
                      "group": case.case_id, **case.modalities, "seg": case.seg})
    if excluded:
        logger.warning("%s: %d case(s) left out, their label is not an LGG/HGG grade: %s",
                       shown_path(folder), len(excluded), ", ".join(excluded))
    if not cases:
        raise DataError(folder, f"no case has an LGG/HGG grade (all {len(excluded)} left out: {', '.join(excluded)})")
    return cases


def _phantom_cases(n_cases, shape, difficulty, seed, design) -> list[dict]:
    cohort = glioma_phantoms(n_cases=n_cases, shape=shape, task="grade", difficulty=difficulty, seed=seed,
                             design=design)
    cases = []
    for i, case_id in enumerate(cohort.case_ids):
        name = cohort.class_names[int(cohort.labels[i])]
        cases.append({"case_id": case_id, "label": GRADE_LABELS[name], "class_name": name,
                      "group": cohort.series[i], **{m: v[i] for m, v in cohort.images.items()},
                      "seg": cohort.masks[i] if cohort.masks is not None else None,
                      "phantom": cohort.metadata.iloc[i].to_dict()})  # the generator's truth, for ceilings
    return cases


class GliomaVolumes(CacheDataset):
    """A MONAI dataset of glioma cases giving ``{modality: (1, D, H, W), "label": int, "case_id": str}``.

    Preprocessing and augmentation are the paper's (Sec. IV-A), from
    :mod:`mmlib.data.transforms`: :func:`~mmlib.data.transforms.volume_transforms`
    for file paths, :func:`~mmlib.data.transforms.array_transforms` for in-memory
    arrays; augmentation (flip, affine) only when ``train`` and ``augment``.
    In-memory cases are cached after their deterministic steps (MONAI's
    ``CacheDataset``); file cases are read at every draw (``cache_rate=0``; BraTS
    2019 would take about 50 GB in memory).

    ``spatial_size`` is ``(D, H, W)`` in model order (module docstring), or
    ``None`` to keep each volume's own size. ``fit="crop"`` pads or crops around
    the centre (the paper: :data:`PAPER_SPATIAL_SIZE`); ``fit="resize"`` resamples
    the whole volume (``area``, i.e. averaging, which does not alias when shrinking;
    nearest for the mask), for CPU runs on real scans; ``fit="lesion"`` cuts a
    ``spatial_size`` box centred on the mask's foreground, after the intensity
    rescale (a CPU-sized option that reads the mask at test time too, as AGG
    does; every case needs its mask). ``with_seg`` adds the mask as ``"seg"``
    (uint8, same grid). ``augment`` picks the training augmentation of
    :data:`AUGMENTATIONS`: ``"paper"`` (flip and a random affine), ``"flip"``
    (left-right flips only) or ``"off"``.

    Every case is checked when the dataset is built (module docstring, "Bad
    input"); NIfTI files by their headers (shape and affine), so no volume is read
    twice. ``seed`` seeds the random transforms; iterate with :func:`make_loader`.
    """

    def __init__(
        self,
        cases: Sequence[dict],
        *,
        modalities: Sequence[str] = PRIORITY_ORDER,
        train: bool,
        spatial_size: Sequence[int] | None = None,
        fit: str = "crop",
        augment: str = "paper",
        with_seg: bool = False,
        seed: int = 0,
    ):
        self.modalities = _checked_modalities(modalities)
        self.spatial_size = checked_spatial_size(spatial_size)
        if fit not in _FITS:
            raise ParameterError(f"fit={fit!r} must be one of {list(_FITS)}")
        if augment not in AUGMENTATIONS:
            raise ParameterError(f"augment={augment!r} must be one of {list(AUGMENTATIONS)}")
        if fit == "lesion" and self.spatial_size is None:
            raise ParameterError("fit='lesion' needs the box size: spatial_size=(D, H, W)")
        if not cases:
            raise ParameterError("GliomaVolumes needs at least one case")
        load_seg = with_seg or fit == "lesion"
        keys = list(self.modalities) + (["seg"] if load_seg else [])
        in_memory = holds_arrays(cases, keys, "GliomaVolumes")
        items = [_checked_case(case, self.modalities, load_seg, in_memory) for case in cases]
        self.train, self.augment, self.fit, self.in_memory = bool(train), augment, fit, in_memory
        self.case_ids = [item["case_id"] for item in items]
        self.labels = np.array([item["label"] for item in items], dtype=np.int64)
        transform = self._build_transform(load_seg, keep_seg=with_seg)
        transform.set_random_state(seed)
        super().__init__(items, transform, cache_rate=1.0 if in_memory else 0.0, num_workers=1, progress=False)

    def _transform(self, index: int):
        """One item through the transforms; a file that fails to load or transform is named in a DataError.

        The constructor checks the NIfTI headers only; a truncated or corrupt
        volume fails here, when its voxels are first read.
        """
        try:
            return super()._transform(index)
        except DataError:
            raise
        except Exception as exc:  # MONAI wraps the cause in "applying transform <Compose ...>"
            cause = exc
            while cause.__cause__ is not None:
                cause = cause.__cause__
            item = self.data[index]
            files = [f"{k}={item[k]}" for k in (*self.modalities, "seg") if isinstance(item.get(k), (str, os.PathLike))]
            where = f"case {self.case_ids[index]}" + (f" ({', '.join(files)})" if files else "")
            raise DataError(where, f"cannot be loaded and preprocessed: {type(cause).__name__}: {cause}") from exc

    def _build_transform(self, load_seg: bool, keep_seg: bool) -> Compose:
        images, masks = list(self.modalities), ["seg"] if load_seg else []
        ras_size = None if self.spatial_size is None else tuple(reversed(self.spatial_size))
        pipeline = array_transforms if self.in_memory else volume_transforms
        augmentation = AUGMENTATIONS[self.augment]
        steps = [pipeline(images, train=self.train and augmentation is not None, mask_keys=masks,
                          spatial_size=ras_size if self.fit == "crop" else None,
                          lesion_crop=ras_size if self.fit == "lesion" else None, **(augmentation or {}))]
        if self.fit == "resize" and ras_size is not None:
            steps.append(Resized(images + masks, spatial_size=ras_size,
                                 mode=["area"] * len(images) + ["nearest"] * len(masks)))
        if load_seg and not keep_seg:
            steps.append(DeleteItemsd(["seg"]))
            masks = []
        steps += [Transposed(images + masks, indices=_RAS_TO_MODEL),
                  EnsureTyped(images, data_type="tensor", dtype=torch.float32, track_meta=False)]
        if masks:
            steps.append(EnsureTyped(masks, data_type="tensor", dtype=torch.uint8, track_meta=False))
        return Compose(steps)


def make_loader(dataset: GliomaVolumes, batch_size: int = 1, shuffle: bool = False, seed: int = 0,
                num_workers: int = 0) -> DataLoader:
    """A MONAI ``DataLoader`` whose order and augmentation follow ``seed`` only.

    The shuffle order comes from a ``torch.Generator`` seeded with ``seed``; MONAI
    seeds each worker's random transforms from it. (:func:`mmlib.train.loop.fit`
    re-seeds loader and transforms from ``(seed, epoch)`` at every epoch.)
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
    generator = torch.Generator().manual_seed(int(seed))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, generator=generator)


def sample_cases(data_root: str | os.PathLike | None = None, dataset: str = "brats-samples") -> tuple[list[dict], str]:
    """The graded cases of the small real BraTS sample folder, for the chapters' smoke runs.

    Returns ``(cases, note)``: the :func:`glioma_cases` dicts and a line saying
    what was found, or ``([], why)`` when the folder or its scans are absent
    (the repository's ``data/`` holds only the manifest), so a chapter can skip
    its smoke section on a fresh machine and say so. A folder that is present
    but holds a bad scan still raises :class:`~mmlib.errors.DataError`.
    """
    from mmlib.data.manifest import check_dataset

    folder = resolve_data_root(data_root) / dataset
    report = check_dataset(dataset, folder)
    if not report.ok:
        return [], f"no {dataset} scans under {shown_path(folder)} ({len(report.missing)} expected file(s) missing)"
    cases = glioma_cases(dataset, data_root)
    grades = ", ".join(f"{c['case_id']} ({c['class_name']})" for c in cases)
    return cases, f"{len(cases)} graded real case(s) from {shown_path(folder)}: {grades}"


def check_fold_classes(train_labels: Sequence, test_labels: Sequence, fold: int) -> dict[str, dict]:
    """Refuse a fold whose train or test set lacks a class; return the class counts of both sides.

    AUC, sensitivity and specificity (Tables III-VIII) are undefined on a test
    set of one class, and the weighted cross-entropy (Eq. 2) needs both classes
    in training. Returns ``{"train": {label: count}, "test": {label: count}}``.

    Raises
    ------
    ParameterError
        Naming the fold, the side and its classes, with the remedy (fewer folds
        or more cases).
    """
    counts = {}
    for side, labels in (("train", train_labels), ("test", test_labels)):
        values, numbers = np.unique(np.asarray(list(labels)), return_counts=True)
        counts[side] = {v.item(): int(n) for v, n in zip(values, numbers)}
        if len(values) < 2:
            raise ParameterError(
                f"fold {fold}: the {side} set holds {len(labels)} case(s) of class(es) {sorted(counts[side])} only, "
                f"so AUC, sensitivity and specificity are undefined; use fewer folds (n_folds) or more cases (n_cases)"
            )
    return counts


def _checked_modalities(modalities: Sequence[str]) -> tuple[str, ...]:
    modalities = tuple(modalities)
    unknown = [m for m in modalities if m not in PRIORITY_ORDER]
    if not modalities or unknown or len(set(modalities)) != len(modalities):
        raise ParameterError(f"modalities={list(modalities)} must be distinct names from {list(PRIORITY_ORDER)}")
    return modalities


def _checked_case(case: dict, modalities: Sequence[str], with_seg: bool, in_memory: bool) -> dict:
    """The item for the transforms (only the keys they need), after the module's bad-input checks."""
    case_id = str(case.get("case_id", "a case without case_id"))
    if case.get("label") not in (0, 1):
        raise DataError(case_id, f"label is {case.get('label')!r}, expected 0 (LGG) or 1 (HGG)")
    keys = list(modalities) + (["seg"] if with_seg else [])
    for key in keys:
        if case.get(key) is None:
            what = "has no mask ('seg'), needed for with_seg=True" if key == "seg" else f"has no {key!r} modality"
            raise DataError(case_id, f"case {what}; it holds {sorted(k for k in case if case[k] is not None)}. "
                                     f"Choose modalities= from what every case has (Table VII trains per subset)")
    volumes = {key: case[key] for key in keys}
    (check_volume_arrays if in_memory else check_volume_files)(case_id, volumes)
    return {"case_id": case_id, "label": int(case["label"]), **volumes}
