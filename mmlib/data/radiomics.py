"""BraTS 2017 radiomics tables: a real LGG-vs-HGG feature set (``brats2017-radiomics/``).

Three pyradiomics CSVs (settings in ``Params.yaml``), one per (modality, tumour
sub-region): ``grades_t1ce_label1_...`` (T1ce, necrotic / non-enhancing core),
``grades_t1ce_label4_...`` (T1ce, enhancing tumour), ``grades_flair_label2_...``
(FLAIR, edema). ``Brats17ID`` joins them, ``Grade`` is High / Low. On the shared
copy: 242 cases, 178 HGG and 64 LGG.

This feeds the radiomics baselines and the multimodal feature-fusion heads
(per-table feature groups play the role of modalities, as in the M3 paper's
per-modality PCA+SVM of its Tables 3-4).

:func:`phantom_radiomics` gives tables of the same layout from the synthetic glioma
phantoms, for machines without the real data.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from mmlib.data.io import read_csv
from mmlib.errors import DataError

_TABLE_PATTERN = re.compile(r"grades_(?P<table>[a-z0-9]+_label[0-9])_.*radiomics\.csv$")
_GRADES = {"Low": 0, "High": 1}
#: pyradiomics bookkeeping columns, not image features.
_METADATA = ("Image", "Mask")
_METADATA_PREFIX = "general_info_"


def load_brats_radiomics(root: str | os.PathLike) -> tuple[pd.DataFrame, pd.Series, dict[str, list[str]]]:
    """Join the radiomics tables of ``root`` on ``Brats17ID``.

    Returns
    -------
    features
        One row per case (index ``Brats17ID``, sorted), columns ``<table>__<feature>``,
        e.g. ``t1ce_label1__original_shape_Volume``.
    grade
        0 = LGG (``Low``), 1 = HGG (``High``), same index.
    groups
        ``{table: [its column names]}``, e.g. ``{"flair_label2": [...], ...}``.

    What is dropped, and why: ``Image``, ``Mask`` and the ``general_info_*`` columns
    (pyradiomics bookkeeping: file names, hashes, versions, bounding boxes, voxel
    counts; not features), then any column that is constant over all cases (it
    cannot inform a classifier).

    What is kept as NaN: a case whose sub-region was empty or failed extraction has
    a whole row of NaN in that table (on the shared copy 18 cases in
    ``t1ce_label1`` and ``flair_label2``, 41 in ``t1ce_label4``, mostly LGG without
    enhancement). They are not imputed here; do it inside the cross-validation
    pipeline (``sklearn.impute.SimpleImputer``) so no test fold leaks into it.

    Raises
    ------
    DataError
        No table found; a table without ``Brats17ID`` / ``Grade``; an unknown or empty
        grade; a non-numeric feature column; a case listed twice; a case missing from one table but present in
        another; a case whose grade differs between tables (naming both files).
    """
    root = Path(root)
    files = sorted(p for p in root.glob("grades_*radiomics.csv") if _TABLE_PATTERN.search(p.name))
    if not files:
        raise DataError(root, "no radiomics table 'grades_<modality>_label<k>_*radiomics.csv' found")

    tables: dict[str, pd.DataFrame] = {}
    grades: dict[str, pd.Series] = {}
    sources: dict[str, Path] = {}
    for path in files:
        name = _TABLE_PATTERN.search(path.name)["table"]
        table, grade = _read_table(path)
        tables[name], grades[name], sources[name] = table, grade, path

    first = next(iter(tables))
    reference_ids = set(grades[first].index)
    for name, grade in grades.items():
        for case in sorted(reference_ids - set(grade.index)):
            raise DataError(sources[name], f"case {case} is missing from this table (present in {sources[first]})")
        for case in sorted(set(grade.index) - reference_ids):
            raise DataError(sources[first], f"case {case} is missing from this table (present in {sources[name]})")
        aligned = grade.reindex(grades[first].index)
        for case in aligned.index[aligned != grades[first]]:
            raise DataError(
                sources[name],
                f"case {case}: Grade {_label(aligned[case])} here "
                f"but {_label(grades[first][case])} in {sources[first]}",
            )

    index = sorted(reference_ids)
    parts, groups = [], {}
    for name, table in tables.items():
        table = table.reindex(index).add_prefix(f"{name}__")
        parts.append(table)
        groups[name] = list(table.columns)
    features = pd.concat(parts, axis=1)
    features.index.name = "Brats17ID"
    grade = grades[first].reindex(index).rename("grade")
    grade.index.name = "Brats17ID"
    return features, grade, groups


def _label(value: int) -> str:
    return "High" if value == 1 else "Low"


def _read_table(path: Path) -> tuple[pd.DataFrame, pd.Series]:
    table = read_csv(path)
    for column in ("Brats17ID", "Grade"):
        if column not in table.columns:
            raise DataError(path, f"missing column {column!r}")
    duplicated = sorted(set(table["Brats17ID"][table["Brats17ID"].duplicated()]))
    if duplicated:
        raise DataError(path, f"case(s) listed more than once: {duplicated}")
    bad = table.loc[~table["Grade"].isin(list(_GRADES)), ["Brats17ID", "Grade"]]
    if len(bad):
        case, value = bad.iloc[0]
        raise DataError(path, f"case {case} has Grade {value!r}, expected 'High' or 'Low'")
    table = table.set_index("Brats17ID")
    grade = table.pop("Grade").map(_GRADES).astype(int)
    features = table.drop(columns=[c for c in table.columns if c in _METADATA or c.startswith(_METADATA_PREFIX)])
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise DataError(path, f"non-numeric feature column(s) {non_numeric[:5]}")
    constant = [c for c in features.columns if features[c].nunique(dropna=True) <= 1]
    return features.drop(columns=constant), grade


#: The phantom tables: name -> (image key, BraTS label of the region), as in the real tables.
PHANTOM_TABLES = {"t1ce_label1": ("t1ce", 1), "t1ce_label4": ("t1ce", 4), "flair_label2": ("flair", 2)}


def region_features(image: np.ndarray, region: np.ndarray) -> dict[str, float]:
    """First-order and shape features of the voxels of ``image`` where ``region`` is True.

    Hand-written (a few pyradiomics-like features, no pyradiomics dependency):
    voxel count, mean, standard deviation, 10th / 50th / 90th percentiles,
    skewness, kurtosis (Fisher), minimum, maximum and energy (sum of squares).
    An empty region gives zeros for every feature; so do skewness and kurtosis
    of a region of constant intensity (they are undefined there).
    """
    values = np.asarray(image, dtype=float)[np.asarray(region, dtype=bool)]
    names = ("original_shape_VoxelCount", "original_firstorder_Mean", "original_firstorder_StandardDeviation",
             "original_firstorder_10Percentile", "original_firstorder_Median", "original_firstorder_90Percentile",
             "original_firstorder_Skewness", "original_firstorder_Kurtosis", "original_firstorder_Minimum",
             "original_firstorder_Maximum", "original_firstorder_Energy")
    if values.size == 0:
        return dict.fromkeys(names, 0.0)
    spread = values.std() > 0
    return dict(zip(names, map(float, (
        values.size, values.mean(), values.std(), *np.percentile(values, [10, 50, 90]),
        stats.skew(values) if spread else 0.0, stats.kurtosis(values) if spread else 0.0,
        values.min(), values.max(), np.sum(values ** 2)))))


def phantom_radiomics(n_cases: int = 60, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, dict[str, list[str]]]:
    """Radiomics tables of the glioma phantoms, laid out like :func:`load_brats_radiomics`.

    The phantoms come from :func:`mmlib.data.glioma_dataset.glioma_cases`
    (``"glioma-phantoms"``, ``n_cases``, ``seed``); each table of
    :data:`PHANTOM_TABLES` holds :func:`region_features` of one image over one
    BraTS label (T1ce necrotic core, T1ce enhancing tumour, FLAIR edema). Same
    triple as the loader: ``(features indexed by Brats17ID = case_id, grade
    0 LGG / 1 HGG, {table: columns})``; columns constant over all cases are
    dropped, as the loader does. A region absent in a case gives zeros (not NaN).
    """
    from mmlib.data.glioma_dataset import glioma_cases

    cases = glioma_cases("glioma-phantoms", n_cases=n_cases, seed=seed)
    rows = {c["case_id"]: {f"{table}__{name}": value
                           for table, (image, label) in PHANTOM_TABLES.items()
                           for name, value in region_features(c[image], c["seg"] == label).items()}
            for c in cases}
    features = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    features = features.loc[:, features.nunique() > 1]
    features.index.name = "Brats17ID"
    grade = pd.Series({c["case_id"]: int(c["label"]) for c in cases}, name="grade").reindex(features.index)
    groups = {table: [c for c in features.columns if c.startswith(f"{table}__")] for table in PHANTOM_TABLES}
    return features, grade, groups
