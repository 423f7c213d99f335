"""Tables V/VI support: pairing an RMC sweep with a DA_RMC sweep fold by fold (mmlib.runs.paired)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmlib.errors import DataError, ParameterError
from mmlib.runs.aggregate import read_run
from mmlib.runs.paired import check_paired_runs, paired_differences, sweep_params

LABELS = [0, 1, 1, 0, 1, 1]


def write_sweep(root: Path, params: dict, scores: dict[str, dict[int, list[float]]], case_prefix: str = "c") -> Path:
    """A fake exported sweep: params.json and finished folds with per-method scores."""
    root.mkdir(parents=True)
    (root / "params.json").write_text(json.dumps({"chapter": "guidance/unimodal", "params": params}))
    folds = sorted(next(iter(scores.values())))
    for fold in folds:
        d = root / f"fold-{fold}"
        d.mkdir()
        ids = [f"{case_prefix}{fold}-{i}" for i in range(len(LABELS))]
        methods = {m: {"metrics": {"auc": _auc(LABELS, s[fold])}, "y_score": s[fold]} for m, s in scores.items()}
        first = next(iter(methods.values()))
        record = {"metrics": first["metrics"], "extra": {"methods": methods},
                  "predictions": {"case_id": ids, "y_true": LABELS, "y_score": first["y_score"]}}
        (d / "metrics.json").write_text(json.dumps(record))
        (d / "done").write_text("")
    return root


def _auc(y, s):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


PERFECT = [0.1, 0.9, 0.8, 0.2, 0.7, 0.6]
MIXED = [0.1, 0.9, 0.3, 0.4, 0.7, 0.2]  # AUC 0.75
PARAMS = {"seed": 0, "n_cases": 90, "max_epochs": 25}


def test_paired_differences_are_other_minus_base_per_fold(tmp_path):
    base = read_run(write_sweep(tmp_path / "rmc", PARAMS, {"t1ce": {0: MIXED, 1: PERFECT}, "t2": {0: MIXED, 1: MIXED}}))
    other = read_run(write_sweep(tmp_path / "da", {**PARAMS, "model": "da_rmc"},
                                 {"t1ce": {0: PERFECT, 1: PERFECT}, "t2": {0: MIXED, 1: PERFECT}}))
    check_paired_runs(base, other)  # differ only in model: no error
    diff = paired_differences(base, other, "auc")
    assert list(diff.columns) == ["t1ce", "t2"]
    assert list(diff.index) == [0, 1]
    np.testing.assert_allclose(diff["t1ce"].to_numpy(), [0.25, 0.0])
    np.testing.assert_allclose(diff["t2"].to_numpy(), [0.0, 0.25])


def test_other_parameter_difference_is_refused_naming_it(tmp_path):
    base = read_run(write_sweep(tmp_path / "rmc", PARAMS, {"t1ce": {0: MIXED}}))
    other = read_run(write_sweep(tmp_path / "da", {**PARAMS, "model": "da_rmc", "max_epochs": 5}, {"t1ce": {0: PERFECT}}))
    with pytest.raises(ParameterError, match=r"max_epochs: 25 vs 5"):
        check_paired_runs(base, other)


def test_different_test_cases_are_refused(tmp_path):
    base = read_run(write_sweep(tmp_path / "rmc", PARAMS, {"t1ce": {0: MIXED}}))
    other = read_run(write_sweep(tmp_path / "da", PARAMS, {"t1ce": {0: PERFECT}}, case_prefix="x"))
    with pytest.raises(DataError, match="fold-0: test cases or labels differ"):
        check_paired_runs(base, other)


def test_different_folds_are_refused(tmp_path):
    base = read_run(write_sweep(tmp_path / "rmc", PARAMS, {"t1ce": {0: MIXED, 1: MIXED}}))
    other = read_run(write_sweep(tmp_path / "da", PARAMS, {"t1ce": {0: PERFECT}}))
    with pytest.raises(DataError, match=r"finished folds \[0\] differ from \[0, 1\]"):
        check_paired_runs(base, other)


def test_missing_params_file_names_it(tmp_path):
    run = read_run(write_sweep(tmp_path / "rmc", PARAMS, {"t1ce": {0: MIXED}}))
    (tmp_path / "rmc" / "params.json").unlink()
    with pytest.raises(DataError, match=r"params\.json: missing"):
        sweep_params(run)


def test_no_shared_method_is_refused(tmp_path):
    base = read_run(write_sweep(tmp_path / "rmc", PARAMS, {"t1ce": {0: MIXED}}))
    other = read_run(write_sweep(tmp_path / "da", PARAMS, {"flair": {0: PERFECT}}))
    with pytest.raises(ParameterError, match="share no method"):
        paired_differences(base, other)
