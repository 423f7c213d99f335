"""The real glioblastoma-vs-metastasis radiomics loader (mmlib.data.gvm_radiomics) and M3's heads on radiomics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmlib.data.gvm_radiomics import load_gvm_radiomics, multimodal
from mmlib.errors import DataError, ParameterError
from mmlib.papers.m3 import radiomics

FEATURES = ("firstorder_Mean", "glcm_Contrast", "shape_VoxelVolume")


def _table(n=30, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = np.array([0, 1] * (n // 2))
    data = {"source_row": np.arange(2, n + 2), "Label": label}
    for mask in ("CE", "periT2", "SUM"):
        shape = rng.normal(size=n) + label
        for image in ("CE", "T2"):
            for feature in FEATURES:
                value = shape if feature.startswith("shape_") else rng.normal(size=n) + (image == "CE") * label
                data[f"{mask}_mask_with_{image}_image_{feature}"] = value
    return pd.DataFrame(data)


def _write(tmp_path, table):
    table.to_csv(tmp_path / "GvM_cohort.csv", index=False)
    return tmp_path


def test_the_loader_groups_columns_by_image(tmp_path):
    features, label, groups = load_gvm_radiomics(_write(tmp_path, _table()))
    assert features.index[0] == "gvm-2" and label.tolist()[:4] == [0, 1, 0, 1]
    assert len(groups["t1ce"]) == len(groups["t2"]) == 9
    assert all("_with_CE_image_" in c for c in groups["t1ce"])
    assert len(multimodal(groups)) == 18 - 3  # each mask's shape feature once


@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop(columns="Label"), "missing column 'Label'"),
    (lambda t: t.assign(Label=t["Label"].replace(1, 2)), "Label is 2"),
    (lambda t: t.assign(source_row=2), "more than once"),
    (lambda t: t.assign(CE_mask_with_CE_image_glcm_Contrast=np.r_[np.nan, t["CE_mask_with_CE_image_glcm_Contrast"][1:]]),
     "missing or infinite value.*gvm-2"),
    (lambda t: t.assign(FLAIR_mask_with_CE_image_x=1.0), "not '<mask>_mask_with_<image>_image_<feature>'"),
    (lambda t: t.assign(SUM_mask_with_T2_image_shape_VoxelVolume=0.0), "SUM mask's shape features differ"),
])
def test_bad_tables_are_refused_by_name(tmp_path, change, message):
    with pytest.raises(DataError, match=message):
        load_gvm_radiomics(_write(tmp_path, change(_table())))


def test_the_heads_on_a_radiomics_table(tmp_path, monkeypatch):
    (tmp_path / "gvm-radiomics").mkdir()
    _write(tmp_path / "gvm-radiomics", _table(n=60))
    table = radiomics.load_table("gvm-radiomics", tmp_path)
    split = radiomics.radiomics_split(table, 0, 5, seed=0)
    assert not set(split["train"]) & set(split["test"]) and len(split["test"]) == 12
    scores, chosen = radiomics.radiomics_scores(table, split, heads=("svm", "gbm"))
    assert set(scores) == {"radiomics/svm/t1ce", "radiomics/svm/t2", "radiomics/svm/multimodal",
                           "radiomics/gbm/multimodal"}
    assert all(s.shape == (12,) for s in scores.values())
    with pytest.raises(ParameterError, match="dataset"):
        radiomics.load_table("radiomics-phantoms", tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        radiomics.load_table("brats2017-radiomics", tmp_path)


@pytest.mark.realdata
def test_the_real_cohort(real_data_root):
    features, label, groups = load_gvm_radiomics(real_data_root("gvm-radiomics"))
    assert features.shape == (125, 558) and int(label.sum()) == 43 and int((label == 0).sum()) == 82
    assert len(groups["t1ce"]) == len(groups["t2"]) == 279 and len(multimodal(groups)) == 558 - 42


@pytest.mark.realdata
def test_the_brats_cohort_as_modalities(real_data_root):
    table = radiomics.load_table("brats2017-radiomics", real_data_root("brats2017-radiomics").parent)
    assert table.counts()["patients"] == 242 and set(table.groups) == {"t1ce", "flair", "multimodal"}
    assert len(table.files) == 3
