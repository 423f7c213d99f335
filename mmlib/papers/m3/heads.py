"""M3's classifier stage (Sec. 2.5) and Table 7's classifier swaps, as scikit-learn pipelines.

Every head is fitted on a training fold only and scores its test fold:
``StandardScaler -> PCA -> classifier``. PCA's component count is chosen
*inside* the training fold: a grid over the share of variance kept
(:data:`PCA_VARIANCE`) by an inner stratified 3-fold search on the training rows
(:class:`sklearn.model_selection.GridSearchCV`, ROC AUC), then refitted on all
training rows. The classifiers (:data:`HEADS`):

* ``"svm"``, the paper's: :class:`sklearn.svm.SVC` (RBF kernel, LIBSVM's default
  as in the paper's Chang & Lin 2011), ``C = 1``, class-balanced;
* ``"rf"``: a random forest of 300 trees, class-balanced;
* ``"gbm"``: gradient boosting machines (:class:`sklearn.ensemble.HistGradientBoostingClassifier`,
  100 depth-3 trees, class-balanced);
* ``"mlp"``: the "three-layer nonlinear" MLP: two hidden ReLU layers (64, 32) and
  the output layer, Adam, early stopping off.

The paper keeps PCA in front of every classifier of Table 7 (only "feature
transformation and classification" change): so does this module, so the heads
differ in the classifier alone.

**Scores.** Every head returns one score per test case in (0, 1), read at
the papers' 0.5 threshold for F1 and ACC and ranked for the AUC. RF, GBM and
MLP give ``predict_proba``. The SVM's score is the logistic function of its
decision value (:func:`scipy.special.expit`): 0.5 is the SVM's own
class-balanced boundary, so F1 and ACC are those of the SVM's ``predict``, as
LIBSVM's tools report them. Platt's calibrated probabilities
(``probability=True``) rank the cases the same way (same AUC) but, for a
minority class, rarely cross 0.5, which would report F1 = 0 for an SVM whose
decisions are not all "majority class". So the SVM's score is a score, not a
calibrated probability. Multimodal = the modalities' features
concatenated before the pipeline (Sec. 2.5). A training fold with one class, or
non-finite features, raise (naming the fold or the head).
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
from sklearn.decomposition import PCA
from scipy.special import expit
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mmlib.errors import DataError, ParameterError

#: Shares of variance PCA may keep; the inner search picks one per training fold.
PCA_VARIANCE = (0.5, 0.7, 0.8, 0.9, 0.95)
#: The classifier heads, in Table 7's order (``"svm"`` is M3's own).
HEADS = ("svm", "rf", "gbm", "mlp")
#: Inner folds of the PCA search.
INNER_FOLDS = 3


def classifier(name: str, seed: int = 0):
    """The classifier of head ``name`` (module docstring)."""
    if name == "svm":
        return SVC(kernel="rbf", C=1.0, gamma="scale", class_weight="balanced", random_state=seed)
    if name == "rf":
        return RandomForestClassifier(n_estimators=300, class_weight="balanced", random_state=seed)
    if name == "gbm":
        return HistGradientBoostingClassifier(max_iter=100, max_depth=3, learning_rate=0.1, class_weight="balanced",
                                              random_state=seed)
    if name == "mlp":
        return MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=1000, random_state=seed)
    raise ParameterError(f"head={name!r} must be one of {list(HEADS)}")


def head_pipeline(name: str, seed: int = 0, pca_variance: Sequence[float] = PCA_VARIANCE,
                  inner_folds: int = INNER_FOLDS, impute: bool = False) -> GridSearchCV:
    """``StandardScaler -> PCA -> classifier``, PCA's variance share chosen by an inner search on the training rows.

    ``impute`` puts median imputation with missing-value indicators and a drop
    of constant columns in front (radiomics tables with empty regions).
    """
    if not pca_variance or not all(0 < v < 1 for v in pca_variance):
        raise ParameterError(f"pca_variance={list(pca_variance)} must be shares in (0, 1)")
    front = [("impute", SimpleImputer(strategy="median", add_indicator=True)),
             ("constant", VarianceThreshold(0.0))] if impute else []
    pipeline = Pipeline([*front, ("scale", StandardScaler()), ("pca", PCA(svd_solver="full", random_state=seed)),
                         ("classifier", classifier(name, seed))])
    return GridSearchCV(pipeline, {"pca__n_components": list(pca_variance)}, scoring="roc_auc",
                        cv=StratifiedKFold(inner_folds, shuffle=True, random_state=seed), refit=True, error_score="raise")


def fit_predict(name: str, x_train: np.ndarray, y_train: Sequence[int], x_test: np.ndarray, *, seed: int = 0,
                pca_variance: Sequence[float] = PCA_VARIANCE, where: str = "features",
                allow_missing: bool = False) -> tuple[np.ndarray, dict]:
    """Fit head ``name`` on the training rows; return the test rows' class-1 probabilities and what was chosen.

    The second value holds the chosen variance share, the PCA component count
    and the inner-search AUC. With ``allow_missing`` NaN features are imputed
    inside the pipeline (fitted on the training rows); infinite values are
    always refused. Raises :class:`~mmlib.errors.DataError` (naming ``where``)
    for bad features, a column without any training value, or a training side
    with too few cases of a class.
    """
    x_train, x_test = np.asarray(x_train, dtype=np.float64), np.asarray(x_test, dtype=np.float64)
    y_train = np.asarray(y_train, dtype=int)
    if x_train.ndim != 2 or x_test.ndim != 2 or x_train.shape[1] != x_test.shape[1]:
        raise ParameterError(f"{where}: need 2-D train / test features with equal columns, got "
                             f"{x_train.shape} and {x_test.shape}")
    bad = np.isinf if allow_missing else (lambda a: ~np.isfinite(a))
    if bad(x_train).any() or bad(x_test).any():
        raise DataError(where, "features hold " + ("infinite" if allow_missing else "NaN or infinite") + " values")
    empty = np.flatnonzero(np.isnan(x_train).all(axis=0))
    if empty.size:
        raise DataError(where, f"feature column(s) {empty[:10].tolist()} have no value in the training rows")
    counts = np.bincount(y_train, minlength=2)
    if (counts < INNER_FOLDS).any():
        raise DataError(where, f"the training side has class counts {counts.tolist()}: every class needs at least "
                               f"{INNER_FOLDS} cases for the inner PCA search")
    search = head_pipeline(name, seed, pca_variance, impute=allow_missing)
    with warnings.catch_warnings():
        # The MLP on a few dozen rows can reach zero training loss before Adam's tolerance stops it.
        warnings.filterwarnings("ignore", category=ConvergenceWarning, module="sklearn.neural_network")
        search.fit(x_train, y_train)
    best = search.best_estimator_
    chosen = {"pca_variance": float(search.best_params_["pca__n_components"]),
              "pca_components": int(best.named_steps["pca"].n_components_),
              "inner_auc": float(search.best_score_)}
    scores = expit(best.decision_function(x_test)) if name == "svm" else best.predict_proba(x_test)[:, 1]
    return scores, chosen


def concatenated(features: Mapping[str, np.ndarray], modalities: Sequence[str]) -> np.ndarray:
    """Multimodal features: the modalities' features side by side (Sec. 2.5, "fused the features")."""
    missing = [m for m in modalities if m not in features]
    if missing:
        raise ParameterError(f"no features for modalities {missing}; have {sorted(features)}")
    return np.concatenate([np.asarray(features[m]) for m in modalities], axis=1)
