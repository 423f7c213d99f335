"""Classification metrics of the papers, per fold and as mean +- std over folds.

All four papers report binary-classification scores at a 0.5 threshold on the
positive-class probability, averaged over cross-validation folds: the guidance
paper's Tables III-VIII (AUC, ACC, sensitivity, specificity; 3-fold CV, see
``NOTES.md`` "Training"), M3's Tables 3-7 (F1, ACC, AUC; 5-fold CV) and MASAN's
Table 2. The scores come from :mod:`sklearn.metrics`; only the fold averaging
and the ROC averaging on a common FPR grid (as in scikit-learn's
"ROC with cross-validation" example) are written here.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    auc,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from mmlib.errors import ParameterError

#: The metric names :func:`binary_metrics` returns, in table order.
METRICS = ("auc", "acc", "f1", "sensitivity", "specificity", "precision", "recall")


def _checked(y_true, y_score, where: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Validate labels (two classes, 0/1) and scores (finite, same length)."""
    at = f" in {where}" if where else ""
    y_true = np.asarray(y_true).ravel()
    y_score = np.asarray(y_score, dtype=float).ravel()
    if y_true.shape != y_score.shape:
        raise ParameterError(
            f"y_true has {y_true.size} labels but y_score has {y_score.size} scores{at}"
        )
    if not np.all(np.isfinite(y_score)):
        n_bad = int(np.sum(~np.isfinite(y_score)))
        raise ParameterError(f"{n_bad} of {y_score.size} scores are NaN or infinite{at}")
    classes = set(np.unique(y_true).tolist())
    if not classes <= {0, 1}:
        raise ParameterError(f"labels must be 0/1 (positive class = 1), got {sorted(classes)}{at}")
    if len(classes) < 2:
        raise ParameterError(
            f"y_true holds a single class ({classes.pop() if classes else 'none'}){at}: "
            "AUC, sensitivity and specificity are undefined; use more cases per fold "
            "or a stratified split"
        )
    return y_true.astype(int), y_score


def binary_metrics(y_true, y_score, threshold: float = 0.5, where: str | None = None) -> dict:
    """AUC, ACC, F1, sensitivity, specificity, precision and recall of one fold.

    ``y_score`` is the predicted probability of the positive class (label 1);
    a case is called positive when ``y_score >= threshold`` (0.5 in every paper,
    e.g. the guidance paper's Sec. IV-B). Sensitivity equals recall;
    specificity is TN / (TN + FP). Precision of a fold with no positive call is 0
    (scikit-learn's ``zero_division=0``).

    ``where`` (e.g. ``"fold 2"``) is named in the error when the fold holds one
    class only or when a score is NaN.
    """
    y_true, y_score = _checked(y_true, y_score, where)
    y_pred = (y_score >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    return {
        "auc": float(roc_auc_score(y_true, y_score)),
        "acc": float(accuracy_score(y_true, y_pred)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        "sensitivity": float(tp / (tp + fn)),
        "specificity": float(tn / (tn + fp)),
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
    }


def roc_points(y_true, y_score, where: str | None = None) -> dict:
    """The ROC curve of one fold as JSON-friendly lists: ``fpr``, ``tpr``, ``thresholds``, ``auc``.

    The first threshold of :func:`sklearn.metrics.roc_curve` is ``inf``; it is
    stored as ``None`` so that the dict can be written with strict JSON.
    """
    y_true, y_score = _checked(y_true, y_score, where)
    fpr, tpr, thresholds = roc_curve(y_true, y_score)
    return {
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        "thresholds": [float(t) if np.isfinite(t) else None for t in thresholds],
        "auc": float(auc(fpr, tpr)),
    }


def summarize_folds(per_fold: Sequence[dict] | pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of each metric over folds.

    Returns a frame with one row per metric and columns ``mean``, ``std`` and
    ``n_folds``. The std is the *sample* standard deviation (``ddof=1``), the
    usual reading of the papers' "mean +- std over 3 (guidance) / 5 (M3) folds";
    with a single fold it is NaN. Non-numeric columns (e.g. ``fold``) are dropped.
    """
    frame = pd.DataFrame(per_fold) if not isinstance(per_fold, pd.DataFrame) else per_fold
    if len(frame) == 0:
        raise ParameterError("summarize_folds got no folds")
    numeric = frame.drop(columns=[c for c in ("fold", "seed") if c in frame.columns])
    numeric = numeric.select_dtypes(include="number")
    if numeric.shape[1] == 0:
        raise ParameterError(f"summarize_folds found no numeric metric among {list(frame.columns)}")
    return pd.DataFrame(
        {"mean": numeric.mean(), "std": numeric.std(ddof=1), "n_folds": numeric.count()}
    )


def format_mean_std(summary: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Format a :func:`summarize_folds` frame as ``"0.812 ± 0.031"`` strings (one column ``value``)."""
    missing = {"mean", "std"} - set(summary.columns)
    if missing:
        raise ParameterError(f"format_mean_std needs columns mean and std; missing {sorted(missing)}")

    def fmt(row) -> str:
        if pd.isna(row["std"]):
            return f"{row['mean']:.{digits}f}"
        return f"{row['mean']:.{digits}f} ± {row['std']:.{digits}f}"

    return pd.DataFrame({"value": summary.apply(fmt, axis=1)}, index=summary.index)


def mean_roc(
    curves: Iterable[tuple[Sequence[float], Sequence[float]]], n_points: int = 101
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Average fold ROC curves on a common FPR grid (vertical averaging).

    Each fold's TPR is linearly interpolated (:func:`numpy.interp`) at
    ``n_points`` FPR values in [0, 1], the curve is pinned to (0, 0) and (1, 1),
    and the mean and sample std (``ddof=1``) of TPR are taken pointwise, as in
    scikit-learn's "ROC with cross-validation" example and the papers' ROC
    figures (guidance paper Fig. 5, M3 Figs. 4, 6, 7).

    Returns ``(grid_fpr, mean_tpr, std_tpr, mean_auc, std_auc)`` where the AUCs
    are the mean and sample std of the folds' own AUCs (std 0 for a single curve).
    """
    grid = np.linspace(0.0, 1.0, n_points)
    tprs, aucs = [], []
    for fpr, tpr in curves:
        fpr, tpr = np.asarray(fpr, dtype=float), np.asarray(tpr, dtype=float)
        if fpr.shape != tpr.shape or fpr.size < 2:
            raise ParameterError(f"a ROC curve needs matching fpr/tpr of length >= 2, got {fpr.size}/{tpr.size}")
        interp = np.interp(grid, fpr, tpr)
        interp[0] = 0.0
        tprs.append(interp)
        aucs.append(auc(fpr, tpr))
    if not tprs:
        raise ParameterError("mean_roc got no curves")
    tprs = np.vstack(tprs)
    mean_tpr = tprs.mean(axis=0)
    mean_tpr[-1] = 1.0
    ddof = 1 if len(aucs) > 1 else 0
    return grid, mean_tpr, tprs.std(axis=0, ddof=ddof), float(np.mean(aucs)), float(np.std(aucs, ddof=ddof))
