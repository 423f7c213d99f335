"""The common return type of the phantom generators, and its NIfTI export.

``PhantomCohort.to_nifti`` writes a cohort in the folder layouts of the real data,
so the real-data loaders read phantoms exactly like scans:

- ``layout="brats2018"`` (grade cohorts, class names ``LGG``/``HGG``):
  ``<folder>/HGG/<case>/<case>_{t1,t1ce,t2,flair,seg}.nii.gz`` and ``LGG/...``,
  as BraTS 2018/2019 ship them.
- ``layout="flat"`` (every cohort): ``<folder>/<case>/<case>_<modality>.nii.gz``
  (``_seg`` for the mask) plus ``<folder>/labels.csv`` with columns
  ``case_id, label, class_name, series``.

4-D series (fMRI) are written time-last, ``(D, H, W, T)``, as NIfTI expects, with
the repetition time in the fourth zoom. Every file is written atomically
(:mod:`mmlib.atomic`).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import nibabel as nib
import numpy as np
import pandas as pd

from mmlib import atomic
from mmlib.errors import ParameterError


@dataclass
class PhantomCohort:
    """A synthetic cohort: images, lesion masks, labels and the parameters that generated each case.

    Attributes
    ----------
    images
        modality -> ``(N, X, Y, Z)`` float32 in RAS voxel order (the affine is a positive
        diagonal), not the models' ``(D, H, W)`` slice order; 2-D cohorts: ``(N, H, W)``;
        fMRI: ``(N, T, X, Y, Z)``.
    masks
        ``(N, X, Y, Z)`` uint8 lesion masks, or ``None``; label values are listed in ``mask_labels``.
    labels
        ``(N,)`` int class indices into ``class_names``.
    class_names
        name of each class index.
    case_ids
        unique case names such as ``"glioma-0007"``.
    affine
        4x4 voxel -> MNI mm affine of the volumes (and of ``masks``).
    metadata
        one row per case: ``case_id``, ``label``, ``class_name`` and the generating parameters.
    series
        patient id per case; several 2-D slices share one series, so splits must group by it.
        For 3-D cohorts it equals ``case_ids``.
    mask_labels
        mask value -> meaning (e.g. ``{1: "necrosis / non-enhancing core", 2: "edema", 4: "enhancing"}``).
    modality_affines
        affines of modalities on another grid than ``affine`` (the fMRI of the Alzheimer cohort).
    repetition_time
        seconds between fMRI volumes, for cohorts with 4-D series.
    """

    images: dict[str, np.ndarray]
    masks: np.ndarray | None
    labels: np.ndarray
    class_names: list[str]
    case_ids: list[str]
    affine: np.ndarray
    metadata: pd.DataFrame
    series: list[str] = field(default_factory=list)
    mask_labels: dict[int, str] = field(default_factory=dict)
    modality_affines: dict[str, np.ndarray] = field(default_factory=dict)
    repetition_time: float | None = None

    def __post_init__(self):
        if not self.series:
            self.series = list(self.case_ids)

    def __len__(self) -> int:
        return len(self.case_ids)

    def affine_of(self, modality: str) -> np.ndarray:
        """The affine of one modality's grid."""
        return self.modality_affines.get(modality, self.affine)

    def to_nifti(self, folder: str | os.PathLike, layout: str = "auto") -> Path:
        """Write every case as NIfTI files under ``folder`` and return ``folder``.

        ``layout`` is ``"brats2018"``, ``"flat"`` or ``"auto"`` (``brats2018`` for
        LGG/HGG cohorts, else ``flat``); see the module docstring for the trees.
        """
        is_grade = sorted(self.class_names) == ["HGG", "LGG"]
        if layout == "auto":
            layout = "brats2018" if is_grade else "flat"
        if layout not in ("brats2018", "flat"):
            raise ParameterError(f"layout={layout!r} must be 'brats2018', 'flat' or 'auto'")
        if layout == "brats2018" and not is_grade:
            raise ParameterError(
                f"layout='brats2018' needs classes LGG/HGG, this cohort has {self.class_names}; use layout='flat'"
            )
        folder = Path(folder)
        for i, case in enumerate(self.case_ids):
            case_dir = folder / self.class_names[self.labels[i]] / case if layout == "brats2018" else folder / case
            for modality, volumes in self.images.items():
                _write_nifti(case_dir / f"{case}_{modality}.nii.gz", volumes[i], self.affine_of(modality),
                             self.repetition_time)
            if self.masks is not None:
                _write_nifti(case_dir / f"{case}_seg.nii.gz", self.masks[i], self.affine, None)
        if layout == "flat":
            table = pd.DataFrame({
                "case_id": self.case_ids,
                "label": np.asarray(self.labels, dtype=int),
                "class_name": [self.class_names[k] for k in self.labels],
                "series": self.series,
            })
            atomic.write_text(folder / "labels.csv", table.to_csv(index=False))
        return folder


def _write_nifti(path: Path, data: np.ndarray, affine: np.ndarray, repetition_time: float | None) -> None:
    """Write one array as gzipped NIfTI-1 atomically (4-D ``(T, D, H, W)`` is stored time-last)."""
    if data.ndim == 4:
        data = np.moveaxis(data, 0, -1)
    img = nib.Nifti1Image(np.ascontiguousarray(data), affine)
    if data.ndim == 4 and repetition_time is not None:
        img.header.set_zooms(img.header.get_zooms()[:3] + (float(repetition_time),))
        img.header.set_xyzt_units("mm", "sec")
    with atomic.atomic_path(path) as tmp:
        tmp.write_bytes(gzip.compress(img.to_bytes(), compresslevel=1))


def case_metadata(columns, case_ids: Sequence[str], labels: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """A cohort's per-case table: ``case_id``, ``label`` and ``class_name`` first, then ``columns`` (one dict per
    case, or a mapping of column name to values, as :class:`pandas.DataFrame` takes them)."""
    metadata = pd.DataFrame(columns)
    metadata.insert(0, "class_name", [class_names[k] for k in labels])
    metadata.insert(0, "label", labels)
    metadata.insert(0, "case_id", case_ids)
    return metadata


def empty_volumes(n_cases: int, shape: tuple[int, ...],
                  modalities: Sequence[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A cohort's image and mask arrays before its cases are drawn into them: one uninitialised float32
    ``(n_cases, *shape)`` array per modality, and a uint8 one for the masks."""
    images = {m: np.empty((n_cases, *shape), np.float32) for m in modalities}
    return images, np.empty((n_cases, *shape), np.uint8)
