"""Figure 5's case choice from committed predictions (mmlib.papers.guidance.case_selection)."""

from __future__ import annotations

import json

import pytest

from mmlib.errors import DataError, ParameterError
from mmlib.papers.guidance.case_selection import figure5_case, paired_scores

MODS = ("t1ce", "flair")
SUBSET = "t1ce+flair"


def write_fold(run, fold, cases, labels, methods):
    d = run / f"fold-{fold}"
    d.mkdir(parents=True)
    record = {"metrics": {"auc": 0.5}, "predictions": {"case_id": cases, "y_true": labels, "y_score": [0.5] * len(cases)},
              "extra": {"methods": {m: {"metrics": {"auc": 0.5}, "y_score": s} for m, s in methods.items()}}}
    (d / "metrics.json").write_text(json.dumps(record))
    (d / "done").write_text("{}")


@pytest.fixture
def runs(tmp_path):
    rmc, guide = tmp_path / "rmc", tmp_path / "guide"
    cases, labels = ["a", "b", "c", "d"], [1, 1, 1, 0]
    # a: both RMCs wrong, guidance right; b: one RMC wrong; c: guidance wrong; d: LGG
    write_fold(rmc, 0, cases, labels, {"t1ce": [0.2, 0.7, 0.1, 0.9], "flair": [0.3, 0.4, 0.1, 0.9]})
    write_fold(guide, 0, cases[::-1], labels[::-1], {SUBSET: [0.1, 0.3, 0.8, 0.9]})  # another order: d, c, b, a
    write_fold(rmc, 1, ["e", "f"], [1, 0], {"t1ce": [0.6, 0.2], "flair": [0.4, 0.2]})
    write_fold(guide, 1, ["e", "f"], [1, 0], {SUBSET: [0.9, 0.1]})
    return rmc, guide


def test_paired_scores_aligns_cases_and_counts_errors(runs):
    frame = paired_scores(*runs, 0, MODS, SUBSET)
    assert frame.loc["a", "guidance"] == 0.9 and frame.loc["d", "guidance"] == 0.1  # aligned by case, not by row
    assert frame["RMC wrong"].to_dict() == {"a": 2, "b": 1, "c": 2, "d": 2}
    assert frame["guidance right"].to_dict() == {"a": True, "b": True, "c": False, "d": True}


def test_the_paper_rule_wins_and_stops_the_search(runs):
    fold, _, case, n_wrong = figure5_case(*runs, MODS, SUBSET, folds=(1, 0))
    assert (fold, case, n_wrong) == (0, "a", 2)
    fold, _, case, n_wrong = figure5_case(*runs, MODS, SUBSET, folds=(1,))
    assert (fold, case, n_wrong) == (1, "e", 1)  # fallback: the most RMC errors available


def test_given_case_and_errors(runs, tmp_path):
    assert figure5_case(*runs, MODS, SUBSET, folds=(0,), case_id="c")[2:] == ("c", 2)
    with pytest.raises(ParameterError, match="not a test case"):
        figure5_case(*runs, MODS, SUBSET, folds=(0,), case_id="zz")
    with pytest.raises(ParameterError, match="exactly one fold"):
        figure5_case(*runs, MODS, SUBSET, case_id="a")
    write_fold(tmp_path / "bad", 0, ["a", "b", "c", "x"], [1, 1, 1, 0], {SUBSET: [0.1] * 4})
    with pytest.raises(DataError, match="differ"):
        paired_scores(runs[0], tmp_path / "bad", 0, MODS, SUBSET)
    with pytest.raises(DataError, match="records no method"):
        paired_scores(runs[0], runs[1], 0, ("t1ce", "t2"), SUBSET)
