"""Table VIII radiomics baselines (mmlib.papers.guidance.radiomics) and the phantom radiomics tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mmlib.data.radiomics import load_brats_radiomics, phantom_radiomics, region_features
from mmlib.data.splits import make_folds
from mmlib.errors import DataError
from mmlib.papers.guidance import radiomics as rb

GROUPS = ("a", "b", "c")


def synthetic(n=120, n_features=6, shift=1.5, seed=0):
    """Three feature groups whose first columns move with the label (shift 0: no signal)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    groups = {}
    for g in GROUPS:
        x = rng.normal(size=(n, n_features))
        x[:, :2] += shift * y[:, None]
        groups[g] = pd.DataFrame(x, columns=[f"{g}__f{i}" for i in range(n_features)])
    return groups, y


def split(groups, y, n_test=40):
    train = {g: x.iloc[n_test:] for g, x in groups.items()}
    test = {g: x.iloc[:n_test] for g, x in groups.items()}
    return train, y[n_test:], test, y[:n_test]


def all_methods(train, y_train, test):
    probs = rb.group_probabilities(train, y_train, test)
    probs["ensemble"] = rb.ensemble_probability(probs)
    probs["feature fusion"] = rb.feature_fusion(train, y_train, test)
    probs["decision fusion"] = rb.decision_fusion(train, y_train, test)
    probs["mmd-vae"], history = rb.mmd_vae_probability(train, y_train, test, hidden=16, epochs=150, lr=1e-2)
    return probs, history


def test_every_method_separates_a_separable_problem():
    train, y_train, test, y_test = split(*synthetic(shift=2.0))
    probs, history = all_methods(train, y_train, test)
    assert set(probs) == {*GROUPS, "ensemble", "feature fusion", "decision fusion", "mmd-vae"}
    for name, p in probs.items():
        assert p.shape == (len(y_test),) and np.all((p >= 0) & (p <= 1)), name
        assert roc_auc_score(y_test, p) > 0.9, name
    assert history[-1] < history[0]


def test_no_signal_gives_chance_auc():
    """Shuffled labels: averaged over several draws every method stays near AUC 0.5."""
    aucs = {}
    for seed in range(4):
        groups, y = synthetic(shift=0.0, seed=seed)
        train, y_train, test, y_test = split(groups, np.random.default_rng(seed).permutation(y))
        probs = rb.group_probabilities(train, y_train, test)
        probs["ensemble"] = rb.ensemble_probability(probs)
        probs["feature fusion"] = rb.feature_fusion(train, y_train, test)
        probs["decision fusion"] = rb.decision_fusion(train, y_train, test, seed=seed)
        for name, p in probs.items():
            aucs.setdefault(name, []).append(roc_auc_score(y_test, p))
    for name, values in aucs.items():
        assert abs(np.mean(values) - 0.5) < 0.15, (name, values)


def test_decision_fusion_fits_its_mlp_on_out_of_fold_probabilities(monkeypatch):
    """The MLP's training inputs equal cross_val_predict's output, never in-sample fits."""
    train, y_train, test, _ = split(*synthetic())
    seen = {}
    original_fit = rb.MLPClassifier.fit

    def spy_fit(self, x, y):
        seen["x"] = np.array(x)
        return original_fit(self, x, y)

    monkeypatch.setattr(rb.MLPClassifier, "fit", spy_fit)
    rb.decision_fusion(train, y_train, test, inner_folds=4, seed=3)
    inner = rb.StratifiedKFold(n_splits=4, shuffle=True, random_state=3)
    for column, g in enumerate(GROUPS):
        out_of_fold = np.zeros(len(y_train))
        for fit_rows, held_rows in inner.split(train[g], y_train):
            model = rb.group_model().fit(train[g].iloc[fit_rows], y_train[fit_rows])
            out_of_fold[held_rows] = model.predict_proba(train[g].iloc[held_rows])[:, 1]
        in_sample = rb.group_model().fit(train[g], y_train).predict_proba(train[g])[:, 1]
        np.testing.assert_allclose(seen["x"][:, column], out_of_fold, atol=1e-8)
        assert not np.allclose(seen["x"][:, column], in_sample, atol=1e-3)


def test_nan_rows_are_imputed_but_bad_columns_are_named():
    train, y_train, test, _ = split(*synthetic())
    train["a"].iloc[:5] = np.nan  # an absent region: whole rows of NaN, imputed inside the pipeline
    assert np.all(np.isfinite(rb.group_probabilities(train, y_train, test)["a"]))
    train["b"]["b__f3"] = np.nan
    with pytest.raises(DataError, match="b__f3"):
        rb.group_probabilities(train, y_train, test)
    with pytest.raises(DataError, match="b__f3"):
        rb.mmd_vae_probability(train, y_train, test, epochs=1)
    train["b"]["b__f3"] = 1.0
    test["c"]["c__f1"] = np.inf
    with pytest.raises(DataError, match="infinite.*c__f1"):
        rb.feature_fusion(train, y_train, test)


def test_constant_training_columns_are_dropped():
    train, y_train, test, _ = split(*synthetic())
    train["a"]["a__f5"] = 7.0
    model = rb.group_model().fit(train["a"], y_train)
    assert model["classifier"].coef_.shape[1] == 5


def test_region_features_of_an_absent_region_are_zero():
    image = np.arange(27, dtype=float).reshape(3, 3, 3)
    region = np.zeros_like(image, dtype=bool)
    assert set(region_features(image, region).values()) == {0.0}
    region[0, 0, :] = True
    features = region_features(image, region)
    assert features["original_shape_VoxelCount"] == 3
    assert features["original_firstorder_Mean"] == 1.0 and features["original_firstorder_Maximum"] == 2.0
    assert features["original_firstorder_Energy"] == 5.0


def check_layout(features, grade, groups):
    assert set(groups) == {"t1ce_label1", "t1ce_label4", "flair_label2"}
    assert sorted(c for cols in groups.values() for c in cols) == sorted(features.columns)
    for table, cols in groups.items():
        assert cols and all(c.startswith(f"{table}__") for c in cols)
    assert features.index.name == grade.index.name == "Brats17ID"
    assert list(features.index) == list(grade.index) == sorted(features.index)
    assert set(grade.unique()) == {0, 1}


def test_phantom_radiomics_has_the_layout_of_the_real_tables():
    features, grade, groups = phantom_radiomics(n_cases=24, seed=1)
    check_layout(features, grade, groups)
    assert len(features) == 24 and np.all(np.isfinite(features.to_numpy()))
    assert all(features[c].nunique() > 1 for c in features.columns)


def test_one_real_fold_gives_finite_aucs(real_data_root):
    features, grade, groups = load_brats_radiomics(real_data_root("brats2017-radiomics"))
    check_layout(features, grade, groups)
    ids = list(features.index)
    fold = make_folds(ids, grade.tolist(), ids, n_folds=3, seed=0)[0]
    train = {g: features.loc[fold["train"], cols] for g, cols in groups.items()}
    test = {g: features.loc[fold["test"], cols] for g, cols in groups.items()}
    y_train, y_test = grade[fold["train"]].to_numpy(), grade[fold["test"]].to_numpy()
    probs = rb.group_probabilities(train, y_train, test, C=0.1)
    probs["ensemble"] = rb.ensemble_probability(probs)
    probs["mmd-vae"], _ = rb.mmd_vae_probability(train, y_train, test, hidden=16, epochs=20)
    aucs = {name: roc_auc_score(y_test, p) for name, p in probs.items()}
    assert all(np.isfinite(a) for a in aucs.values())
    assert aucs["ensemble"] > 0.7  # real radiomics grade gliomas well above chance
