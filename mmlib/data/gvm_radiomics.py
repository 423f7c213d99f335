"""Glioblastoma vs solitary brain metastasis radiomics (``gvm-radiomics/GvM_cohort.csv``): M3's tumour task on real patients.

One row per patient: ``source_row`` (the row's position in the source file),
``Label`` (0 = glioblastoma, 1 = metastasis) and PyRadiomics features named
``<mask>_mask_with_<image>_image_<feature>``: masks ``CE`` (contrast-enhancing
tumour), ``periT2`` (peritumoural T2 high signal) and ``SUM`` (their union),
images ``CE`` (T1ce) and ``T2``; 93 features per (mask, image) pair
(first-order, GLCM, GLRLM, GLSZM, NGTDM and 14 shape features). On the shared
copy: 125 patients, 82 GBM and 43 metastases, 558 features, no missing value.
(Source: github.com/Starkillxr/do_not_split_small_sample @ f70a052; see
``data/gvm-radiomics/MANIFEST.md``.)

**Modalities.** :func:`load_gvm_radiomics` groups the columns by *image*, the
M3 reading of "per modality": ``"t1ce"`` (every ``*_with_CE_image_*`` column) and
``"t2"`` (every ``*_with_T2_image_*`` column), 279 each. Shape features depend on
the mask only, so they are identical in both images' columns (checked here); they
stay in both groups, as the source file has them, and :func:`multimodal` drops the
duplicates when the groups are concatenated.

Bad input raises :class:`~mmlib.errors.DataError` naming the file (and the row or
column): a missing file or column, a label other than 0/1, a non-numeric or
non-finite feature, a duplicated ``source_row``, a feature column that fits no
``<mask>_mask_with_<image>_image_`` group, shape features that differ between the
two images of one mask.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from mmlib.data.io import read_csv
from mmlib.errors import DataError

#: The file of the shared copy, inside the dataset folder.
FILE = "GvM_cohort.csv"
#: Image name in the column -> this book's modality name.
IMAGES = {"CE": "t1ce", "T2": "t2"}
#: Region masks in the column names.
MASKS = ("CE", "periT2", "SUM")
#: Class index -> name (``Label``).
CLASS_NAMES = ("glioblastoma", "metastasis")
_COLUMN = re.compile(r"^(?P<mask>CE|periT2|SUM)_mask_with_(?P<image>CE|T2)_image_(?P<feature>\w+)$")


def load_gvm_radiomics(root: str | os.PathLike) -> tuple[pd.DataFrame, pd.Series, dict[str, list[str]]]:
    """Read ``<root>/GvM_cohort.csv``.

    Returns
    -------
    features
        One row per patient (index ``patient``: ``"gvm-<source_row>"``), one
        column per feature, as named in the file.
    label
        0 = glioblastoma, 1 = metastasis, same index.
    groups
        ``{"t1ce": [...], "t2": [...]}``: the columns of each image (module docstring).
    """
    path = Path(root) / FILE
    if not path.is_file():
        raise DataError(path, "the glioblastoma-vs-metastasis radiomics table does not exist")
    table = read_csv(path)
    for column in ("source_row", "Label"):
        if column not in table.columns:
            raise DataError(path, f"missing column {column!r}")
    duplicated = sorted(table["source_row"][table["source_row"].duplicated()].tolist())
    if duplicated:
        raise DataError(path, f"source_row(s) listed more than once: {duplicated[:10]}")
    bad = table.loc[~table["Label"].isin([0, 1]), ["source_row", "Label"]]
    if len(bad):
        row, value = bad.iloc[0]
        raise DataError(path, f"row with source_row {row}: Label is {value!r}, expected 0 (GBM) or 1 (metastasis)")
    index = pd.Index([f"gvm-{int(r)}" for r in table["source_row"]], name="patient")
    label = pd.Series(table["Label"].astype(int).to_numpy(), index=index, name="label")
    features = table.drop(columns=["source_row", "Label"]).set_axis(index)
    unknown = [c for c in features.columns if not _COLUMN.match(c)]
    if unknown:
        raise DataError(path, f"column(s) {unknown[:5]} are not '<mask>_mask_with_<image>_image_<feature>' "
                              f"with mask in {list(MASKS)} and image in {list(IMAGES)}")
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise DataError(path, f"non-numeric feature column(s) {non_numeric[:5]}")
    values = features.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        rows, cols = np.nonzero(~np.isfinite(values))
        raise DataError(path, f"{rows.size} missing or infinite value(s), first in {index[rows[0]]}, "
                              f"column {features.columns[cols[0]]}")
    groups = {modality: [c for c in features.columns if _COLUMN.match(c)["image"] == image]
              for image, modality in IMAGES.items()}
    for mask in MASKS:
        shape = {image: features[[f"{mask}_mask_with_{image}_image_{c.split('_image_', 1)[1]}"
                                  for c in features.columns if c.startswith(f"{mask}_mask_with_{image}_image_shape_")]]
                 for image in IMAGES}
        first, second = shape.values()
        if first.shape != second.shape or not np.allclose(first.to_numpy(), second.to_numpy(), rtol=1e-9, atol=0):
            raise DataError(path, f"the {mask} mask's shape features differ between the CE and T2 images: "
                                  "they describe one mask and must agree")
    return features, label, groups


def multimodal(groups: dict[str, list[str]], modalities=("t1ce", "t2")) -> list[str]:
    """The columns of the modalities concatenated, each mask's shape features once (the T1ce copy kept)."""
    columns, seen = [], set()
    for modality in modalities:
        for column in groups[modality]:
            key = column.replace("_with_T2_image_", "_with_CE_image_") if "_image_shape_" in column else column
            if key not in seen:
                seen.add(key)
                columns.append(column)
    return columns
