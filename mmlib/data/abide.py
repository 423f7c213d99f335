"""ABIDE-I resting-state fMRI ROI time series on the AAL-116 atlas (``abide-roi-timeseries/``).

``Functional/<SUB_ID>.mat`` holds ``ROISignals`` (time x 116);
``Phenotypic_V1_0b_preprocessed1.csv`` gives ``SUB_ID``, ``SITE_ID`` and
``DX_GROUP``; ``Risk_ROI_List.csv`` names the AAL regions. On the shared copy:
80 subjects from 3 sites (PITT, OLIN, OHSU), 48 autism and 32 controls, 77 to 205
time points. It is the real stand-in for the functional (fMRI) branch of the
MASAN chapters (a patient-vs-control task; ABIDE has no Alzheimer's labels).

``DX_GROUP`` is 1 = autism in both codings found in the wild (this copy: 0 =
control; the original ABIDE table: 2 = control), so ``label = (DX_GROUP == 1)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io

from mmlib.data.io import read_csv
from mmlib.errors import DataError

N_ROIS = 116
_PHENOTYPE = "Phenotypic_V1_0b_preprocessed1.csv"
_ROI_LIST = "Risk_ROI_List.csv"
_VARIABLE = "ROISignals"


def load_abide_timeseries(root: str | os.PathLike) -> tuple[list[np.ndarray], pd.DataFrame, list[str]]:
    """Load every subject of ``root/Functional`` with its phenotype row.

    Returns
    -------
    timeseries
        One float64 array ``(T, 116)`` per subject, in ``SUB_ID`` order.
    phenotype
        One row per subject, same order: ``SUB_ID``, ``SITE_ID``, ``DX_GROUP``,
        ``label`` (1 = autism), ``n_timepoints``, ``n_constant_rois`` (ROIs whose
        signal is constant, usually all-zero because they lie outside the scanned
        field of view; 12 subjects of the shared copy have some, all in the
        cerebellum / vermis ROIs 101-116).
    roi_names
        The 116 AAL region names (``name`` column of ``Risk_ROI_List.csv``).

    Raises
    ------
    DataError
        An unreadable or malformed CSV; an unreadable ``.mat``; one without ``ROISignals``; a wrong ROI count or fewer
        than 2 time points; NaN/inf values; a subject with no phenotype row or with a
        ``DX_GROUP`` other than 0/1/2 (each naming the file).
    """
    root = Path(root)
    functional, phenotype_csv, roi_csv = root / "Functional", root / _PHENOTYPE, root / _ROI_LIST
    for path in (phenotype_csv, roi_csv):
        if not path.is_file():
            raise DataError(path, "file does not exist")
    if not functional.is_dir():
        raise DataError(functional, "time-series folder does not exist")
    roi_names = _read_roi_names(roi_csv)

    phenotype = read_csv(phenotype_csv)
    for column in ("SUB_ID", "SITE_ID", "DX_GROUP"):
        if column not in phenotype.columns:
            raise DataError(phenotype_csv, f"missing column {column!r}")
    duplicated = sorted(set(phenotype["SUB_ID"][phenotype["SUB_ID"].duplicated()]))
    if duplicated:
        raise DataError(phenotype_csv, f"SUB_ID(s) listed more than once: {duplicated}")
    phenotype = phenotype.set_index("SUB_ID")

    files = sorted(functional.glob("*.mat"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise DataError(functional, "no <SUB_ID>.mat file found")
    series, rows = [], []
    for path in files:
        if not path.stem.isdigit():
            raise DataError(path, "file name is not '<SUB_ID>.mat'")
        subject = int(path.stem)
        if subject not in phenotype.index:
            raise DataError(phenotype_csv, f"subject {subject} has a time series {path} but no phenotype row")
        diagnosis = phenotype.at[subject, "DX_GROUP"]
        if diagnosis not in (0, 1, 2):
            raise DataError(phenotype_csv, f"subject {subject} has DX_GROUP {diagnosis!r}, expected 0/1/2")
        signals = read_roi_signals(path, len(roi_names))
        rows.append(
            {
                "SUB_ID": subject,
                "SITE_ID": phenotype.at[subject, "SITE_ID"],
                "DX_GROUP": int(diagnosis),
                "label": int(diagnosis == 1),
                "n_timepoints": signals.shape[0],
                "n_constant_rois": int(np.count_nonzero(np.ptp(signals, axis=0) == 0)),
            }
        )
        series.append(signals)
    return series, pd.DataFrame(rows), roi_names


def read_roi_signals(path: str | os.PathLike, n_rois: int = N_ROIS) -> np.ndarray:
    """Read ``ROISignals`` from one ``.mat`` file and check it is a finite ``(T >= 2, n_rois)`` array."""
    path = Path(path)
    try:
        content = scipy.io.loadmat(path)
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(path, f"cannot read .mat file (truncated or corrupt): {exc}") from None
    if _VARIABLE not in content:
        found = sorted(k for k in content if not k.startswith("__"))
        raise DataError(path, f"no variable {_VARIABLE!r} (found {found})")
    signals = np.asarray(content[_VARIABLE], dtype=np.float64)
    if signals.ndim != 2 or signals.shape[1] != n_rois or signals.shape[0] < 2:
        raise DataError(path, f"{_VARIABLE} has shape {signals.shape}, expected (time >= 2, {n_rois})")
    n_bad = int(signals.size - np.count_nonzero(np.isfinite(signals)))
    if n_bad:
        raise DataError(path, f"{n_bad} NaN/inf values in {_VARIABLE}")
    return signals


def functional_connectivity(timeseries: np.ndarray) -> np.ndarray:
    """Pearson correlation between ROI time series: ``(T, R) -> (R, R)`` (``numpy.corrcoef``).

    A constant ROI (see ``n_constant_rois``) has no defined correlation; its row and
    column are set to 0 and its diagonal entry to 1, so it contributes no coupling.
    This is a stated choice, not a repair: the count of such ROIs is reported per
    subject by :func:`load_abide_timeseries`.
    """
    timeseries = np.asarray(timeseries, dtype=np.float64)
    varying = np.ptp(timeseries, axis=0) > 0
    matrix = np.eye(timeseries.shape[1])
    matrix[np.ix_(varying, varying)] = np.corrcoef(timeseries[:, varying], rowvar=False)
    return matrix


def _read_roi_names(path: Path) -> list[str]:
    table = read_csv(path)
    if "name" not in table.columns:
        raise DataError(path, "missing column 'name'")
    if len(table) != N_ROIS:
        raise DataError(path, f"lists {len(table)} regions, expected {N_ROIS} (AAL-116)")
    return table["name"].astype(str).tolist()
