"""MASAN's inputs: paired T1 + fMRI cohorts (phantoms or a user's NIfTI manifest), OASIS slices, ABIDE windows.

**Paired cohorts** (:class:`PairedCohort`). The CPU default is
:func:`phantom_cohort` (:func:`mmlib.data.phantoms.alzheimer_phantoms`: 64 NC, 70
MCI, 72 AD as the paper's ADNI3 set, with the generator's per-subject
parameters kept for the ceiling). :func:`manifest_cohort` reads a user's cohort
from a CSV with columns ``subject, label, t1, fmri`` (label NC / MCI / AD or
EMCI / LMCI, counted as MCI; paths absolute or relative to the CSV), the
route to the paper's 240 x 256 x 176 T1 and 976-volume fMRI. Arrays keep the
NIfTI voxel order (RAS ``x, y, z``), so a weight map on the patch grid lies on
the T1's own affine.

Preparation, stated once here and in the method chapter:

* **T1** (:func:`prepare_t1`): divided by its 99th percentile of non-zero
  voxels; then zero-padded to a multiple of the patch grid
  (:func:`~mmlib.papers.masan.patches.fit_to_grid`, ``mode="pad"``: the shape is
  never cropped silently).
* **fMRI** (:func:`prepare_fmri`): the central ``window`` time points; per voxel
  a linear detrend and percent signal change (voxels whose mean is below 10 %
  of the brightest voxel's are background and set to 0); the window is scaled
  to unit standard deviation over the foreground; then padded to the grid.

Bad input raises :class:`~mmlib.errors.DataError` naming the subject: NaN or
infinite voxels; a run shorter than the window; a T1 that is not 3-D or an
fMRI that is not 4-D; a volume with no signal; a subject listed twice, with a
missing file, an unknown label, or (``check_names=True``) a T1 or fMRI file
whose name does not contain the subject's id (the sign of a T1 and an fMRI of
different subjects); shapes that differ between subjects.

**OASIS-1** (:func:`oasis_arrays`): the three orthogonal slices of each subject
resized to ``size`` x ``size`` and stacked as three channels: one sample per
subject, so splits are by subject by construction. **ABIDE**
(:func:`region_windows`): each subject's AAL-116 time series, the central
``window`` time points, z-scored per region; a constant (zero-variance) region
is kept as zeros and counted (it carries no signal; 12 subjects of the shared
copy have such regions outside the field of view), a NaN raises.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.signal import detrend

from mmlib.data.io import load_nifti, read_csv
from mmlib.data.oasis import VIEWS, load_oasis_slice
from mmlib.data.phantoms import alzheimer_phantoms
from mmlib.errors import DataError, ParameterError
from mmlib.papers.masan.patches import fit_to_grid

#: The paper's classes (EMCI and LMCI together as MCI).
CLASSES = ("NC", "MCI", "AD")
#: Label spellings a manifest may use.
LABEL_ALIASES = {"NC": "NC", "CN": "NC", "MCI": "MCI", "EMCI": "MCI", "LMCI": "MCI", "AD": "AD"}
#: The binary tasks: Table 2 (AD against NC and MCI) and Fig. 3 (AD against NC).
TASKS = {"ad-vs-rest": ("NC", "MCI"), "ad-vs-nc": ("NC",)}
#: The generator's per-subject parameters that depend on the class (the ceiling's features).
CEILING_FEATURES = ("hippocampal_atrophy", "amygdala_atrophy", "global_atrophy", "dmn_coupling")
#: The structural ones alone (what the T1 can show).
T1_CEILING_FEATURES = CEILING_FEATURES[:3]
MANIFEST_COLUMNS = ("subject", "label", "t1", "fmri")


@dataclass
class PairedCohort:
    """Prepared paired inputs: ``t1 (N, 1, X, Y, Z)``, ``fmri (N, window, x, y, z)``, float32.

    ``classes`` holds each subject's class name (NC / MCI / AD); ``metadata``
    one row per subject (the generator's parameters for phantoms, the
    manifest's row otherwise); ``t1_padding`` the grid padding of the T1
    (:func:`~mmlib.papers.masan.patches.unfit`); ``source`` describes the data
    for the provenance record.
    """

    t1: np.ndarray
    fmri: np.ndarray
    classes: list[str]
    case_ids: list[str]
    metadata: pd.DataFrame
    t1_affine: np.ndarray
    fmri_affine: np.ndarray
    source: dict
    t1_padding: list = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.case_ids)

    def class_counts(self) -> dict[str, int]:
        return {c: self.classes.count(c) for c in CLASSES}


def task_subset(classes: Sequence[str], task: str) -> tuple[np.ndarray, np.ndarray]:
    """``(indices of the subjects the task uses, their 0/1 labels with AD = 1)``."""
    if task not in TASKS:
        raise ParameterError(f"task={task!r} must be one of {sorted(TASKS)}")
    keep = [i for i, c in enumerate(classes) if c == "AD" or c in TASKS[task]]
    return np.asarray(keep, dtype=int), np.asarray([int(classes[i] == "AD") for i in keep], dtype=int)


def prepare_t1(volume: np.ndarray, where: str) -> np.ndarray:
    """A 3-D T1 divided by its 99th percentile of non-zero voxels (float32)."""
    volume = np.asarray(volume, dtype=np.float32)
    if volume.ndim != 3:
        raise DataError(where, f"T1 has shape {volume.shape}; expected a 3-D volume")
    n_bad = int(volume.size - np.count_nonzero(np.isfinite(volume)))
    if n_bad:
        raise DataError(where, f"T1 holds {n_bad} NaN/inf voxels")
    foreground = volume[volume > 0]
    if foreground.size == 0:
        raise DataError(where, "T1 has no voxel above 0")
    return volume / np.float32(np.percentile(foreground, 99))


def prepare_fmri(series: np.ndarray, window: int, where: str) -> np.ndarray:
    """``(T, *spatial)`` -> the central ``window`` time points, detrended, in percent signal change, unit std."""
    series = np.asarray(series, dtype=np.float32)
    if series.ndim < 2:
        raise DataError(where, f"fMRI has shape {series.shape}; expected (time, *space)")
    n_bad = int(series.size - np.count_nonzero(np.isfinite(series)))
    if n_bad:
        raise DataError(where, f"fMRI holds {n_bad} NaN/inf values")
    n_time = series.shape[0]
    if n_time < window:
        raise DataError(where, f"fMRI run has {n_time} time points, fewer than the model's window of {window}")
    start = (n_time - window) // 2
    series = series[start:start + window].astype(np.float64)
    mean = series.mean(axis=0)
    foreground = mean > 0.1 * mean.max() if mean.max() > 0 else np.zeros(mean.shape, bool)
    change = np.zeros_like(series)
    change[:, foreground] = detrend(series[:, foreground], axis=0, type="linear") / mean[foreground]
    scale = change[:, foreground].std() if foreground.any() else 0.0
    if not scale > 1e-8:  # relative change: a constant run leaves only rounding noise
        raise DataError(where, "fMRI has no voxel whose signal varies over time")
    return (change / scale).astype(np.float32)


def _pad_stack(volumes: np.ndarray, grid: Sequence[int]) -> tuple[np.ndarray, list]:
    padded, padding = fit_to_grid(torch.from_numpy(volumes), grid, mode="pad")
    return padded.numpy(), padding


def phantom_cohort(*, n_cases: int = 206, t1_shape: Sequence[int] = (32, 40, 32), fmri_shape: Sequence[int] = (16, 20, 16),
                   n_timepoints: int = 60, window: int = 48, difficulty: float = 0.25, grid: Sequence[int] = (4, 4, 4),
                   seed: int = 0) -> PairedCohort:
    """The paired Alzheimer's phantoms, prepared (module docstring); ``seed`` draws the cohort."""
    cohort = alzheimer_phantoms(n_cases=n_cases, t1_shape=tuple(t1_shape), fmri_shape=tuple(fmri_shape),
                                n_timepoints=n_timepoints, difficulty=difficulty, seed=seed)
    t1 = np.stack([prepare_t1(v, c) for v, c in zip(cohort.images["t1"], cohort.case_ids)])[:, None]
    fmri = np.stack([prepare_fmri(s, window, c) for s, c in zip(cohort.images["fmri"], cohort.case_ids)])
    t1, padding = _pad_stack(t1, grid)
    fmri, _ = _pad_stack(fmri, grid)
    source = {"generator": "mmlib.data.phantoms.alzheimer_phantoms", "n_cases": n_cases, "t1_shape": list(t1_shape),
              "fmri_shape": list(fmri_shape), "n_timepoints": n_timepoints, "difficulty": difficulty, "seed": seed}
    return PairedCohort(t1, fmri, [cohort.class_names[k] for k in cohort.labels], list(cohort.case_ids),
                        cohort.metadata.copy(), cohort.affine.copy(), cohort.affine_of("fmri").copy(), source, padding)


def read_manifest(path: str | os.PathLike, check_names: bool = True) -> pd.DataFrame:
    """The manifest CSV (``subject, label, t1, fmri``) with resolved paths and class names; checked (module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "manifest does not exist")
    table = read_csv(path, what="the manifest CSV", dtype=str, keep_default_na=False)
    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(path, f"missing column(s) {missing}; a manifest has {list(MANIFEST_COLUMNS)}")
    twice = sorted(set(table["subject"][table["subject"].duplicated()]))
    if twice:
        raise DataError(path, f"subject(s) listed more than once: {twice}")
    rows = []
    for _, row in table.iterrows():
        subject = row["subject"].strip()
        label = LABEL_ALIASES.get(row["label"].strip().upper())
        if not subject:
            raise DataError(path, "a row has no subject id")
        if label is None:
            raise DataError(path, f"subject {subject}: label {row['label']!r} is not one of {sorted(LABEL_ALIASES)}")
        files = {}
        for modality in ("t1", "fmri"):
            text = row[modality].strip()
            if not text:
                raise DataError(path, f"subject {subject} has no {modality} file in the manifest")
            file = Path(text) if Path(text).is_absolute() else path.parent / text
            if not file.is_file():
                raise DataError(file, f"subject {subject}: {modality} file does not exist")
            if check_names and subject not in file.name:
                raise DataError(file, f"the {modality} file listed for subject {subject} does not carry that id in its "
                                      "name: a T1 and an fMRI of different subjects? (check_names=False to skip)")
            files[modality] = file
        rows.append({"subject": subject, "class_name": label, **files})
    shared = pd.Series([r[m] for r in rows for m in ("t1", "fmri")]).duplicated()
    if shared.any():
        raise DataError(path, "a file is listed for more than one subject or modality")
    return pd.DataFrame(rows)


def _resized(volume: np.ndarray, shape: Sequence[int] | None) -> np.ndarray:
    """``volume`` (``(*spatial)`` or ``(T, *spatial)``) resized (linear) to ``shape`` when given."""
    if shape is None or tuple(volume.shape[-len(shape):]) == tuple(shape):
        return volume
    tensor = torch.from_numpy(np.ascontiguousarray(volume)).float()
    batch = tensor[None, None] if tensor.ndim == len(shape) else tensor[None]
    out = F.interpolate(batch, size=tuple(shape), mode="trilinear", align_corners=False)
    return out[0, 0].numpy() if tensor.ndim == len(shape) else out[0].numpy()


def manifest_cohort(path: str | os.PathLike, *, window: int, grid: Sequence[int] = (4, 4, 4),
                    t1_shape: Sequence[int] | None = None, fmri_shape: Sequence[int] | None = None,
                    check_names: bool = True) -> PairedCohort:
    """A user's paired NIfTI cohort from its manifest, prepared like the phantoms.

    ``t1_shape`` / ``fmri_shape`` resize every volume (linear interpolation) to
    one grid; ``None`` keeps the files' shapes, which must then agree across
    subjects. 4-D fMRI is read time-last (NIfTI) and moved time-first.
    """
    table = read_manifest(path, check_names)
    t1, fmri, affines = [], [], {}
    for _, row in table.iterrows():
        subject = row["subject"]
        volume, t1_affine = load_nifti(row["t1"])
        series, fmri_affine = load_nifti(row["fmri"])
        if series.ndim != 4:
            raise DataError(row["fmri"], f"subject {subject}: fMRI has shape {series.shape}; expected a 4-D run")
        t1.append(_resized(prepare_t1(volume, f"subject {subject} ({row['t1'].name})"), t1_shape))
        series = prepare_fmri(np.moveaxis(series, -1, 0), window, f"subject {subject} ({row['fmri'].name})")
        fmri.append(_resized(series, fmri_shape))
        affines.setdefault("t1", t1_affine)
        affines.setdefault("fmri", fmri_affine)
    for name, stack in (("T1", t1), ("fMRI", fmri)):
        shapes = sorted({v.shape for v in stack})
        if len(shapes) > 1:
            raise DataError(path, f"{name} shapes differ between subjects {shapes}; set t1_shape / fmri_shape")
    t1_array, padding = _pad_stack(np.stack(t1)[:, None], grid)
    fmri_array, _ = _pad_stack(np.stack(fmri), grid)
    files = [Path(path), *(p for m in ("t1", "fmri") for p in table[m])]  # the manifest holds the labels
    return PairedCohort(t1_array, fmri_array, table["class_name"].tolist(), table["subject"].tolist(),
                        table[["subject", "class_name"]].rename(columns={"subject": "case_id"}), affines["t1"],
                        affines["fmri"], {"manifest": Path(path).name, "subjects": len(table)}, padding, files)


def oasis_arrays(table: pd.DataFrame, size: int = 64) -> np.ndarray:
    """``(N, 3, size, size)`` float32: each subject's axial, coronal, sagittal slices (:data:`~mmlib.data.oasis.VIEWS`), resized."""
    if size < 8:
        raise ParameterError(f"size={size} must be at least 8")
    out = np.empty((len(table), len(VIEWS), size, size), np.float32)
    for i, (_, row) in enumerate(table.iterrows()):
        for j, view in enumerate(VIEWS):
            image = torch.from_numpy(load_oasis_slice(row[view]))[None, None]
            out[i, j] = F.interpolate(image, size=(size, size), mode="bilinear", antialias=True,
                                      align_corners=False)[0, 0].numpy()
    return out


def region_windows(series: Sequence[np.ndarray], window: int, subjects: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """``(windows (N, R, window) float32, constant regions per subject (N,))`` from ``(T, R)`` region time series.

    The central ``window`` time points, z-scored per region; a constant region
    stays all zeros and is counted. Raises :class:`DataError` naming the
    subject for a run shorter than ``window`` or a NaN.
    """
    if window < 8:
        raise ParameterError(f"window={window} must be at least 8 time points")
    out, constant = [], []
    for s, subject in zip(series, subjects):
        s = np.asarray(s, dtype=np.float64)
        where = f"subject {subject}"
        if s.ndim != 2:
            raise DataError(where, f"region time series has shape {s.shape}; expected (time, regions)")
        if not np.isfinite(s).all():
            raise DataError(where, f"{int(np.size(s) - np.count_nonzero(np.isfinite(s)))} NaN/inf values in the time series")
        if s.shape[0] < window:
            raise DataError(where, f"run has {s.shape[0]} time points, fewer than the model's window of {window}")
        start = (s.shape[0] - window) // 2
        s = s[start:start + window]
        std = s.std(axis=0)
        varying = std > 0
        z = np.zeros_like(s)
        z[:, varying] = (s[:, varying] - s[:, varying].mean(axis=0)) / std[varying]
        out.append(z.T.astype(np.float32))
        constant.append(int((~varying).sum()))
    return np.stack(out), np.asarray(constant)
