"""Patient-level stratified k-fold splits, saved as MONAI-style JSON with a ``fold`` key.

The guidance paper evaluates with 3-fold cross-validation (its Sec. IV-A and
Tables III-VIII), M3 with 5-fold (its Tables 3-7). Every split here is by
*patient* (``group``): all cases, slices or time points of one patient land on
the same side, so that no patient is in both train and test (the DILRAN
authors' per-slice split broke this; see ``NOTES.md``). Splitting is
scikit-learn's :class:`~sklearn.model_selection.StratifiedGroupKFold`.

File layout (the Medical Decathlon / MONAI datalist convention, readable with
``monai.data.load_decathlon_datalist(path, is_segmentation=False)``)::

    {"n_folds": 3, "seed": 0,
     "training": [{"case_id": "...", "label": "HGG", "group": "...", ..., "fold": 2}, ...]}

where each case's ``fold`` is the fold in which it is a *test* case.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from mmlib.atomic import write_json
from mmlib.errors import DataError, ParameterError


def _check_unique(case_ids: Sequence[str], where: str) -> None:
    duplicates = sorted(str(c) for c, n in Counter(case_ids).items() if n > 1)
    if duplicates:
        raise DataError(where, f"duplicate case ids {duplicates[:10]}; every case must appear once")


def _stratified_group_split(labels, groups, n_splits: int, seed: int):
    """scikit-learn's StratifiedGroupKFold splits, after checking every class has enough patients."""
    if n_splits < 2:
        raise ParameterError(f"n_folds must be at least 2, got {n_splits}")
    groups_per_class = {
        label: len({g for g, lab in zip(groups, labels) if lab == label}) for label in sorted(set(labels), key=str)
    }
    smallest = min(groups_per_class, key=groups_per_class.get)
    if groups_per_class[smallest] < n_splits:
        raise ParameterError(
            f"n_folds={n_splits} is larger than the {groups_per_class[smallest]} patients of class "
            f"{smallest!r} (patients per class: {groups_per_class}); every test fold needs each class"
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return splitter.split(np.zeros(len(labels)), labels, groups)


def make_folds(
    case_ids: Sequence[str],
    labels: Sequence,
    groups: Sequence | None = None,
    n_folds: int = 3,
    seed: int = 0,
) -> list[dict]:
    """Patient-level stratified k-fold: ``[{"fold": k, "train": [case ids], "test": [case ids]}, ...]``.

    ``groups`` names each case's patient (default: the case itself); a patient's
    cases always share a side. Class ratios in each test fold follow the whole
    set as closely as the patients allow. The same ``seed`` gives the same folds.

    Raises
    ------
    DataError
        When a case id appears twice.
    ParameterError
        When lengths differ, or ``n_folds`` exceeds the number of patients of
        the smallest class.
    """
    case_ids = [str(c) for c in case_ids]
    labels = list(labels)
    groups = list(case_ids if groups is None else groups)
    if not len(case_ids) == len(labels) == len(groups):
        raise ParameterError(
            f"case_ids, labels and groups differ in length: {len(case_ids)}, {len(labels)}, {len(groups)}"
        )
    _check_unique(case_ids, "case_ids")
    folds = []
    for k, (train, test) in enumerate(_stratified_group_split(labels, groups, n_folds, seed)):
        folds.append({"fold": k, "train": [case_ids[i] for i in train], "test": [case_ids[i] for i in test]})
    return folds


def _jsonable(value):
    """Paths become strings; numpy scalars become Python numbers."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value.item() if isinstance(value, np.generic) else value


def save_folds_json(path: str | os.PathLike, cases: Sequence[dict], n_folds: int = 3, seed: int = 0) -> Path:
    """Assign every case a test ``fold`` (see :func:`make_folds`) and write the datalist atomically.

    ``cases`` are dicts with at least ``case_id`` and ``label``, optionally
    ``group`` (the patient) and any file paths; all fields are kept except
    in-memory arrays (phantom volumes), which a datalist cannot hold. Returns the path.
    """
    for i, case in enumerate(cases):
        missing = {"case_id", "label"} - set(case)
        if missing:
            raise DataError(f"case #{i} ({case.get('case_id', 'no id')})", f"missing field(s) {sorted(missing)}")
    ids = [str(c["case_id"]) for c in cases]
    folds = make_folds(ids, [c["label"] for c in cases], [c.get("group", c["case_id"]) for c in cases], n_folds, seed)
    test_fold = {case_id: f["fold"] for f in folds for case_id in f["test"]}
    training = [
        {**{k: _jsonable(v) for k, v in case.items() if not isinstance(v, np.ndarray)}, "fold": test_fold[str(case["case_id"])]}
        for case in cases
    ]
    return write_json(path, {"n_folds": n_folds, "seed": seed, "training": training})


def _read_datalist(path: Path) -> dict:
    if not path.is_file():
        raise DataError(path, "fold file does not exist; write it with save_folds_json")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, f"fold file is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not {"n_folds", "seed", "training"} <= set(data):
        raise DataError(path, "fold file lacks one of the keys 'n_folds', 'seed', 'training'")
    for i, case in enumerate(data["training"]):
        if not isinstance(case, dict) or not {"case_id", "label", "fold"} <= set(case):
            raise DataError(path, f"entry #{i} of 'training' lacks 'case_id', 'label' or 'fold'")
    _check_unique([c["case_id"] for c in data["training"]], str(path))
    return data


def load_fold(path: str | os.PathLike, fold: int, val_fraction: float = 0.0):
    """Cases of one fold from a :func:`save_folds_json` file: ``(train, test)``.

    With ``val_fraction > 0`` a patient-level, stratified validation set of
    about that fraction is carved out of the training cases (with the file's
    seed) and ``(train, val, test)`` is returned. Cases are the saved dicts.
    """
    path = Path(path)
    data = _read_datalist(path)
    n_folds = int(data["n_folds"])
    if not 0 <= fold < n_folds:
        raise ParameterError(f"fold={fold} is outside 0..{n_folds - 1} of {path}")
    cases = data["training"]
    test = [c for c in cases if c["fold"] == fold]
    train = [c for c in cases if c["fold"] != fold]
    if not 0.0 <= val_fraction < 1.0:
        raise ParameterError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if val_fraction == 0.0:
        return train, test
    n_splits = max(2, round(1.0 / val_fraction))
    split = _stratified_group_split(
        [c["label"] for c in train], [c.get("group", c["case_id"]) for c in train], n_splits, int(data["seed"])
    )
    fit_idx, val_idx = next(iter(split))
    return [train[i] for i in fit_idx], [train[i] for i in val_idx], test
