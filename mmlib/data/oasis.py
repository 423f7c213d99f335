"""OASIS-1 T1 slices with the Clinical Dementia Rating (``oasis1-slices/``).

One axial, coronal and sagittal 8-bit JPEG slice per subject
(``slices/<ID>_a.jpg``, ``_c``, ``_s``; atlas-registered, skull-stripped) and
``oasis_cross-sectional.csv`` (Marcus et al. 2007) with age, sex, MMSE and CDR.
The label is CDR > 0 (very mild to mild dementia) vs CDR = 0. On the shared copy:
160 subjects aged 60-96, 80 with CDR 0, 55 with 0.5, 25 with 1. This is the real
stand-in for the structural (T1) branch of the MASAN chapters, whose ADNI data
cannot be redistributed.

Subjects are the ones that have slices; CSV rows without slices are ignored (the
full OASIS table lists 436 sessions, many young subjects with no CDR).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from mmlib.data.io import load_png, read_csv
from mmlib.errors import DataError

#: Slice views and their file suffixes.
VIEWS = {"axial": "a", "coronal": "c", "sagittal": "s"}
_CSV = "oasis_cross-sectional.csv"
_CDR_VALUES = (0.0, 0.5, 1.0, 2.0, 3.0)


def load_oasis_slices(root: str | os.PathLike) -> pd.DataFrame:
    """One row per subject with slices, sorted by ID.

    Columns: ``ID``, ``age``, ``sex``, ``mmse``, ``cdr``, ``label`` (1 when CDR > 0),
    ``axial``, ``coronal``, ``sagittal`` (paths of the three JPEGs).

    Raises
    ------
    DataError
        Missing CSV or slice folder; a subject with only some of its three views
        (naming the missing file); a subject with slices but no CSV row, or with an
        empty or invalid CDR or an empty Age (naming the CSV and the subject); an ID
        listed twice.
    """
    root = Path(root)
    csv, slice_dir = root / _CSV, root / "slices"
    if not csv.is_file():
        raise DataError(csv, "file does not exist")
    if not slice_dir.is_dir():
        raise DataError(slice_dir, "slice folder does not exist")
    table = read_csv(csv)
    missing_columns = [c for c in ("ID", "M/F", "Age", "MMSE", "CDR") if c not in table.columns]
    if missing_columns:
        raise DataError(csv, f"missing column(s) {missing_columns}")
    duplicated = sorted(set(table["ID"][table["ID"].duplicated()]))
    if duplicated:
        raise DataError(csv, f"subject(s) listed more than once: {duplicated}")
    table = table.set_index("ID")

    subjects = sorted({p.name[: -len("_a.jpg")] for p in slice_dir.glob("*_[acs].jpg")})
    if not subjects:
        raise DataError(slice_dir, "no '<ID>_a.jpg' / '_c' / '_s' slices found")
    rows = []
    for subject in subjects:
        paths = {view: slice_dir / f"{subject}_{suffix}.jpg" for view, suffix in VIEWS.items()}
        for view, path in paths.items():
            if not path.is_file():
                raise DataError(path, f"subject {subject}: {view} slice does not exist")
        if subject not in table.index:
            raise DataError(csv, f"subject {subject} has slices in {slice_dir} but no row in this file")
        record = table.loc[subject]
        cdr = record["CDR"]
        if pd.isna(cdr):
            raise DataError(csv, f"subject {subject} has no CDR (empty cell), so no label")
        if float(cdr) not in _CDR_VALUES:
            raise DataError(csv, f"subject {subject} has CDR {float(cdr)}, expected one of {list(_CDR_VALUES)}")
        if pd.isna(record["Age"]):
            raise DataError(csv, f"subject {subject} has no Age (empty cell)")
        rows.append(
            {
                "ID": subject,
                "age": int(record["Age"]),
                "sex": record["M/F"],
                "mmse": float(record["MMSE"]),
                "cdr": float(cdr),
                "label": int(float(cdr) > 0),
                **{view: path for view, path in paths.items()},
            }
        )
    return pd.DataFrame(rows)


def load_oasis_slice(path: str | os.PathLike) -> np.ndarray:
    """Read one OASIS slice as float32 greyscale in [0, 1] (:func:`mmlib.data.io.load_png`)."""
    return load_png(path, mode="grey")
