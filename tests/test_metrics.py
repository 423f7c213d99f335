"""Fold metrics, mean +- std summaries and ROC averaging (mmlib.eval.metrics)."""

import json

import numpy as np
import pandas as pd
import pytest

from mmlib.errors import ParameterError
from mmlib.eval.metrics import (
    METRICS,
    binary_metrics,
    format_mean_std,
    mean_roc,
    roc_points,
    summarize_folds,
)


def test_perfect_scores_give_ones():
    m = binary_metrics([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert set(m) == set(METRICS)
    assert all(m[k] == 1.0 for k in METRICS)


def test_known_confusion_matrix():
    # labels: 4 positives, 6 negatives. Calls at 0.5: TP=3, FN=1, TN=4, FP=2.
    y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    s = [0.9, 0.8, 0.6, 0.4, 0.7, 0.55, 0.3, 0.2, 0.1, 0.45]
    m = binary_metrics(y, s)
    assert m["sensitivity"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["specificity"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["acc"] == pytest.approx(7 / 10)
    assert m["f1"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    # AUC by pair counting: positives 0.9,0.8,0.6,0.4 vs negatives 0.7,0.55,0.3,0.2,0.1,0.45
    wins = sum(p > n for p in s[:4] for n in s[4:])
    assert m["auc"] == pytest.approx(wins / 24)


def test_threshold_is_inclusive_at_half():
    m = binary_metrics([0, 1], [0.49, 0.5])
    assert m["acc"] == 1.0


def test_single_class_names_the_fold():
    with pytest.raises(ParameterError, match="fold 2.*single class|single class.*fold 2"):
        binary_metrics([1, 1, 1], [0.2, 0.6, 0.9], where="fold 2")


def test_nan_scores_are_refused():
    with pytest.raises(ParameterError, match="NaN"):
        binary_metrics([0, 1, 1], [0.2, np.nan, 0.9], where="fold 0")


def test_roc_points_is_json_friendly():
    r = roc_points([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    text = json.dumps(r, allow_nan=False)
    assert json.loads(text)["auc"] == pytest.approx(0.75)
    assert r["fpr"][0] == 0.0 and r["fpr"][-1] == 1.0 and r["tpr"][-1] == 1.0
    assert len(r["fpr"]) == len(r["tpr"]) == len(r["thresholds"])


def test_summarize_folds_exact_mean_and_sample_std():
    folds = [{"fold": 0, "auc": 0.8, "acc": 0.7}, {"fold": 1, "auc": 0.9, "acc": 0.7}, {"fold": 2, "auc": 1.0, "acc": 0.7}]
    s = summarize_folds(folds)
    assert "fold" not in s.index
    assert s.loc["auc", "mean"] == pytest.approx(0.9)
    assert s.loc["auc", "std"] == pytest.approx(0.1)  # ddof=1: sqrt((0.01+0+0.01)/2)
    assert s.loc["acc", "std"] == pytest.approx(0.0)
    assert s.loc["auc", "n_folds"] == 3
    assert summarize_folds(pd.DataFrame(folds)).equals(s)


def test_format_mean_std():
    s = summarize_folds([{"auc": 0.8}, {"auc": 0.9}, {"auc": 1.0}])
    assert format_mean_std(s).loc["auc", "value"] == "0.900 ± 0.100"
    assert format_mean_std(s, digits=1).loc["auc", "value"] == "0.9 ± 0.1"


def test_mean_roc_of_identical_curves_is_the_curve():
    fpr, tpr = [0.0, 0.25, 0.5, 1.0], [0.0, 0.6, 0.8, 1.0]
    grid, mean, std, mean_auc, std_auc = mean_roc([(fpr, tpr)] * 3)
    np.testing.assert_allclose(mean, np.interp(grid, fpr, tpr))
    np.testing.assert_allclose(std, 0.0, atol=1e-12)
    assert std_auc == pytest.approx(0.0)
    assert mean_auc == pytest.approx(np.trapezoid(tpr, fpr))


def test_mean_roc_averages_two_curves():
    perfect = ([0.0, 0.0, 1.0], [0.0, 1.0, 1.0])
    chance = ([0.0, 1.0], [0.0, 1.0])
    grid, mean, std, mean_auc, std_auc = mean_roc([perfect, chance], n_points=11)
    assert mean[0] == 0.0 and mean[-1] == 1.0
    np.testing.assert_allclose(mean[5], (1.0 + 0.5) / 2)
    assert mean_auc == pytest.approx(0.75)
    assert std_auc == pytest.approx(np.std([1.0, 0.5], ddof=1))
