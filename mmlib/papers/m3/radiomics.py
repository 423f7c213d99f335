"""M3's classifier stage on real radiomics tables, one cross-validation fold at a time.

The paper's features are deep (Eq. 1); the real cohorts this book holds have
hand-crafted PyRadiomics features instead. So the real-data chapter runs M3's
*classifier stage* (Sec. 2.5: scaling, PCA chosen inside the training fold,
SVM; per modality and multimodal) and Table 7's heads (RF, GBM, 3-layer MLP)
on them, with the same :mod:`mmlib.papers.m3.heads` pipelines as the deep
features:

* ``"gvm-radiomics"`` (:func:`mmlib.data.gvm_radiomics.load_gvm_radiomics`): M3's
  own tumour task, 82 glioblastomas vs 43 metastases; modalities ``t1ce`` and
  ``t2`` (features of each image over the CE, peritumoural and union masks);
* ``"brats2017-radiomics"`` (:func:`mmlib.data.radiomics.load_brats_radiomics`):
  LGG vs HGG, a second real cohort (another task); modalities ``t1ce`` (the
  necrotic-core and enhancing-tumour tables) and ``flair`` (the edema table).
  Cases with an empty region have NaN features there; the pipelines impute them
  from the training fold (median, with missing-value indicators).

:func:`radiomics_scores` gives every method's test probabilities, named as the
deep-feature runs name them (``"radiomics/svm/t1ce"``, ``"radiomics/svm/multimodal"``,
``"radiomics/rf/multimodal"``, ...), so the same claim functions read both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mmlib.config import data_root as resolve_data_root
from mmlib.data.gvm_radiomics import load_gvm_radiomics
from mmlib.data.gvm_radiomics import multimodal as gvm_multimodal
from mmlib.data.radiomics import load_brats_radiomics
from mmlib.data.splits import make_folds
from mmlib.data.glioma_dataset import check_fold_classes
from mmlib.errors import DataError, ParameterError
from mmlib.papers.m3.heads import HEADS, PCA_VARIANCE, fit_predict

#: The real radiomics datasets and their folder under the data root.
DATASETS = {"gvm-radiomics": "gvm-radiomics", "brats2017-radiomics": "brats2017-radiomics"}
#: What class 0 and 1 are in each.
CLASS_NAMES = {"gvm-radiomics": ("glioblastoma", "metastasis"), "brats2017-radiomics": ("LGG", "HGG")}
#: The feature family this book names its radiomics methods by (in place of M3's "m3" deep features).
VARIANT = "radiomics"
MULTIMODAL = "multimodal"


@dataclass
class RadiomicsTable:
    """A real radiomics cohort: ``features`` (one row per patient), ``label`` (0/1), modality -> columns, files read."""

    dataset: str
    features: pd.DataFrame
    label: pd.Series
    groups: dict[str, list[str]]
    files: list[Path]

    @property
    def class_names(self) -> tuple[str, str]:
        return CLASS_NAMES[self.dataset]

    def counts(self) -> pd.Series:
        y = self.label.to_numpy()
        return pd.Series({self.class_names[0]: int((y == 0).sum()), self.class_names[1]: int((y == 1).sum()),
                          "patients": len(y), **{f"{g} features": len(c) for g, c in self.groups.items()}},
                         name=self.dataset)


def load_table(dataset: str, data_root: str | os.PathLike | None = None) -> RadiomicsTable:
    """The cohort of ``dataset`` under the data root, its columns grouped by modality (module docstring).

    Raises :class:`~mmlib.errors.ParameterError` for an unknown dataset and
    :class:`~mmlib.errors.DataError` when its folder or files are absent or bad.
    """
    if dataset not in DATASETS:
        raise ParameterError(f"dataset={dataset!r} must be one of {list(DATASETS)}")
    folder = resolve_data_root(data_root) / DATASETS[dataset]
    if not folder.is_dir():
        raise DataError(folder, f"the {dataset} folder does not exist under the data root")
    if dataset == "gvm-radiomics":
        features, label, groups = load_gvm_radiomics(folder)
        groups = {**groups, MULTIMODAL: gvm_multimodal(groups)}
        files = [folder / "GvM_cohort.csv"]
    else:
        features, grade, tables = load_brats_radiomics(folder)
        label = grade.rename("label")
        groups = {"t1ce": tables["t1ce_label1"] + tables["t1ce_label4"], "flair": tables["flair_label2"]}
        groups[MULTIMODAL] = groups["t1ce"] + groups["flair"]
        files = sorted(folder.glob("grades_*radiomics.csv"))
    return RadiomicsTable(dataset, features, label, groups, files)


def radiomics_split(table: RadiomicsTable, fold: int, n_folds: int, seed: int) -> dict[str, list[str]]:
    """Fold ``fold`` of a patient-level stratified ``n_folds``-fold split: ``{"train": ids, "test": ids}``.

    Raises :class:`~mmlib.errors.ParameterError` when a side lacks a class
    (:func:`mmlib.data.glioma_dataset.check_fold_classes`) or ``fold`` is out of range.
    """
    if not isinstance(fold, int) or not 0 <= fold < n_folds:
        raise ParameterError(f"fold={fold} must lie in 0..{n_folds - 1} (n_folds={n_folds})")
    ids = list(table.features.index)
    split = make_folds(ids, table.label.tolist(), ids, n_folds=n_folds, seed=seed)[fold]
    check_fold_classes(table.label[split["train"]], table.label[split["test"]], fold)
    return {"train": split["train"], "test": split["test"]}


def radiomics_scores(table: RadiomicsTable, split: dict[str, list[str]], *, heads: Sequence[str] = HEADS,
                     seed: int = 0, pca_variance: Sequence[float] = PCA_VARIANCE,
                     fold: int = 0) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """The SVM per modality and on the multimodal columns, and every head of ``heads`` on the multimodal columns.

    Returns ``({method: test probabilities}, {method: what PCA chose})``; rows
    in ``split["test"]`` order.
    """
    y_train = table.label[split["train"]].to_numpy()
    scores, chosen = {}, {}
    for group, columns in table.groups.items():
        x_train = table.features.loc[split["train"], columns].to_numpy(dtype=float)
        x_test = table.features.loc[split["test"], columns].to_numpy(dtype=float)
        for head in (heads if group == MULTIMODAL else ("svm",)):
            name = f"{VARIANT}/{head}/{group}"
            scores[name], chosen[name] = fit_predict(head, x_train, y_train, x_test, seed=seed, pca_variance=pca_variance,
                                                     where=f"{table.dataset}, fold {fold}, {name}", allow_missing=True)
    return scores, chosen
