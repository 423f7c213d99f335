"""Table VIII's baselines on radiomics feature groups, one cross-validation fold at a time.

The guidance paper (Xu et al., Table VIII, Sec. IV-F) compares its model with
uni-modal models, a probability ensemble, feature and decision fusion, and an
MMD-VAE on radiomics features (its ref. [22]). Here the "modalities" are feature
groups (the BraTS 2017 radiomics tables of :func:`mmlib.data.radiomics.load_brats_radiomics`)
and every function takes training and test rows and returns the HGG probability
of each test row. The classifiers are scikit-learn's; only the wiring into the
paper's baselines is written here.

Preprocessing (fitted on the training rows only, inside each pipeline): a case
whose tumour region is absent has NaN features; they are replaced by the training
median, with one missing-value indicator column per affected feature
(``SimpleImputer(add_indicator=True)``: "this case has no such region" is itself
information). Columns constant over the training fold are then dropped
(``VarianceThreshold``) and the rest standardised. Infinite values, and a column
without any finite training value, raise :class:`~mmlib.errors.DataError` naming
the column(s).
"""

from __future__ import annotations

import warnings

from typing import Mapping

import numpy as np
import pandas as pd
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from mmlib.errors import DataError
from mmlib.papers.guidance.mmd_vae import MMDVAE, fit_mmd_vae, predict_proba
from mmlib.train.classification import class_counts, class_weights

Groups = Mapping[str, pd.DataFrame]


def check_features(x_train: pd.DataFrame, x_test: pd.DataFrame, where: str = "radiomics features") -> None:
    """Refuse infinite values and columns with no finite training value, naming the columns."""
    infinite = [c for c in x_train.columns if np.isinf(x_train[c]).any() or np.isinf(x_test[c]).any()]
    if infinite:
        raise DataError(where, f"infinite values in column(s) {infinite}")
    empty = [c for c in x_train.columns if x_train[c].isna().all()]
    if empty:
        raise DataError(where, f"column(s) {empty} hold no finite value in the training rows (all NaN)")


def preprocessing() -> Pipeline:
    """Median imputation with missing-value indicators, constant columns dropped, standardisation."""
    return make_pipeline(SimpleImputer(strategy="median", add_indicator=True), VarianceThreshold(0.0), StandardScaler())


def group_model(C: float = 1.0, max_iter: int = 5000) -> Pipeline:
    """The uni-modal model on one feature group: :func:`preprocessing` + balanced logistic regression.

    The paper's uni-modal model is a CNN on one MR sequence (Tables III/IV, first
    rows of Table VIII); on radiomics features it is this linear classifier. ``C``
    (inverse L2 strength) is fixed, not tuned by inner cross-validation. The
    ``liblinear`` solver: on ~160 rows x ~700 columns it converges ~30x faster
    than ``lbfgs`` (it also penalises the intercept, a negligible difference here).
    """
    classifier = LogisticRegression(C=C, class_weight="balanced", solver="liblinear", max_iter=max_iter)
    return Pipeline([*preprocessing().steps, ("classifier", classifier)])


def group_probabilities(x_train: Groups, y_train, x_test: Groups, C: float = 1.0) -> dict[str, np.ndarray]:
    """HGG probability of the test rows from one :func:`group_model` per feature group (Table VIII, uni-modal rows)."""
    out = {}
    for name in x_train:
        check_features(x_train[name], x_test[name], where=f"feature group {name}")
        out[name] = group_model(C).fit(x_train[name], y_train).predict_proba(x_test[name])[:, 1]
    return out


def ensemble_probability(probabilities: Mapping[str, np.ndarray]) -> np.ndarray:
    """The naive ensemble of Tables III/IV: the mean of the per-group HGG probabilities."""
    return np.mean(np.stack([np.asarray(p) for p in probabilities.values()]), axis=0)


def feature_fusion(x_train: Groups, y_train, x_test: Groups, C: float = 1.0) -> np.ndarray:
    """Feature fusion (Table VIII): one :func:`group_model` on the concatenated feature groups."""
    train, test = pd.concat(list(x_train.values()), axis=1), pd.concat(list(x_test.values()), axis=1)
    check_features(train, test, where="concatenated feature groups")
    return group_model(C).fit(train, y_train).predict_proba(test)[:, 1]


def decision_fusion(x_train: Groups, y_train, x_test: Groups, C: float = 1.0, hidden: tuple[int, int] = (16, 8),
                    inner_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Decision fusion (Table VIII): a 3-layer MLP on the per-group HGG probabilities.

    The MLP (two hidden layers, ``hidden`` units) is trained on *out-of-fold*
    probabilities of the training rows (``cross_val_predict`` with ``inner_folds``
    stratified folds), so it never sees a probability of a row that the group
    model producing it was fitted on; at test time it reads the probabilities of
    group models fitted on all training rows.
    """
    inner = StratifiedKFold(n_splits=inner_folds, shuffle=True, random_state=seed)
    out_of_fold = np.column_stack([
        cross_val_predict(group_model(C), x_train[name], y_train, cv=inner, method="predict_proba")[:, 1]
        for name in x_train])
    test = np.column_stack(list(group_probabilities(x_train, y_train, x_test, C).values()))
    mlp = MLPClassifier(hidden_layer_sizes=hidden, max_iter=2000, random_state=seed)
    with warnings.catch_warnings():
        # On (nearly) separable group probabilities the log-loss keeps falling towards 0, so Adam's
        # tolerance never stops it within max_iter and sklearn warns. Measured on the phantom folds,
        # 8000 iterations instead of 2000 moved the test AUC by at most 0.013. (Changing the optimiser
        # would change the committed Table VIII radiomics run.)
        warnings.filterwarnings("ignore", category=ConvergenceWarning, module="sklearn.neural_network")
        return mlp.fit(out_of_fold, y_train).predict_proba(test)[:, 1]


def mmd_vae_probability(x_train: Groups, y_train, x_test: Groups, *, shared_dim: int = 8, specific_dim: int = 4,
                        hidden: int = 64, epochs: int = 200, lr: float = 1e-3, weight_decay: float = 1e-4,
                        seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """The MMD-VAE row of Table VIII (ref. [22]): :class:`~mmlib.papers.guidance.mmd_vae.MMDVAE` on the feature groups.

    Each group goes through :func:`preprocessing` fitted on the training rows; the
    cross-entropy carries the paper's Eq. 2 class weights of the training labels.
    Returns the test HGG probabilities and the training loss per epoch.
    """
    import torch

    train, test = [], []
    for name in x_train:
        check_features(x_train[name], x_test[name], where=f"feature group {name}")
        prep = preprocessing().fit(x_train[name])
        train.append(prep.transform(x_train[name]))
        test.append(prep.transform(x_test[name]))
    y_train = np.asarray(y_train, dtype=int)
    torch.manual_seed(seed)  # the initial weights
    model = MMDVAE([x.shape[1] for x in train], shared_dim=shared_dim, specific_dim=specific_dim, hidden=hidden)
    history = fit_mmd_vae(model, train, y_train, epochs=epochs, lr=lr, weight_decay=weight_decay,
                          class_weight=class_weights(class_counts(y_train)).tolist(), seed=seed)
    return predict_proba(model, test)[:, 1], history
