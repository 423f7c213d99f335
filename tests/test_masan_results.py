"""MASAN's paper tables, full-scale settings and committed reference runs (mmlib.papers.masan.paper, results)."""

from __future__ import annotations

import shlex

import numpy as np
import pandas as pd
import pytest

from mmlib.errors import DataError
from mmlib.papers.masan import paper, results
from mmlib.runs.cli import parse_param

FULL_SCALES = [paper.FULL_SCALE_MODEL, paper.FULL_SCALE_OASIS, paper.FULL_SCALE_ABIDE]


def test_table_2_is_typed_as_printed():
    frame = paper.TABLE_2.frame()
    assert frame.loc["Ours", ("acc", "mean")] == 67.55 and frame.loc["H-FCN", ("recall", "std")] == 4.73
    assert frame.loc["Ours", ("precision", "mean")] == 73.61
    assert paper.FIGURE_3.frame().isna().all().all()  # the text gives no bar heights
    assert sum(paper.PAPER_COHORT.values()) == 206 and len(paper.TABLE_1) == 8


@pytest.mark.parametrize("full_scale", FULL_SCALES, ids=lambda f: f.chapter)
def test_full_scale_settings_are_parameters_and_round_trip(full_scale):
    full_scale.check()
    words = shlex.split(full_scale.command())
    given = dict(parse_param(words[i + 1]) for i, w in enumerate(words) if w == "-p")
    assert given == {k: list(v) if isinstance(v, tuple) else v for k, v in full_scale.settings.items()}


COMMITTED = {name: results.optional_run(results.RESULTS / name) for name in ("table-2", "figure-3", "oasis", "abide")}


@pytest.mark.parametrize("name", [n for n, r in COMMITTED.items() if r is not None])
def test_every_committed_run_has_ten_repetitions_with_fit_and_provenance(name):
    run = COMMITTED[name]
    assert sorted(run.per_fold.index) == list(range(10))
    n_train, n_test = results.split_sizes(run)
    assert n_train > n_test > 0
    fit = results.train_fit(run)
    assert (fit["train acc (mean)"] > 0.5).all()
    provenance = run.provenance
    assert provenance["command"].startswith("bash scripts/reference-masan-") and provenance["wall_time_s"] > 0
    for result in run.methods.values():  # every method scored the same test subjects
        assert len(result.predictions) == len(run.predictions)


def test_the_table_2_and_figure_3_runs_feed_their_chapters():
    table_2, figure_3 = COMMITTED["table-2"], COMMITTED["figure-3"]
    if table_2 is None or figure_3 is None:
        pytest.skip("the Table 2 / Figure 3 reference runs are not committed yet")
    rows = results.named_rows(table_2, results.TABLE_2_ROWS)
    frame = results.beside_table_2(rows, "book")
    assert frame.loc["Ours", ("acc", "paper (ADNI3, Table 2)")] == "67.55 ± 4.26"
    assert set(results.named_rows(figure_3, results.FIGURE_3_ROWS)) >= {"Attention fusion (ours)", "Element-wise addition"}
    shares = results.fusion_weight_records(table_2)
    assert len(shares) == 10 and (shares["volume_share"] > 0).all()
    weights, grid, shape = results.mean_weight_map(table_2)
    assert weights.shape == (64,) and grid == (4, 4, 4) and len(shape) == 3
    paired = results.paired_table(rows["H-FCN"], rows["Ours"], table_2)
    assert list(paired.index) == ["acc", "precision", "recall", "auc"]


def test_paired_difference_refuses_runs_of_different_repetitions():
    from mmlib.runs.aggregate import MethodResult

    def result(folds):
        frame = pd.DataFrame({"acc": np.linspace(0.5, 0.7, len(folds))}, index=pd.Index(folds, name="fold"))
        return MethodResult(frame, frame.describe(), [])

    with pytest.raises(DataError, match="repetitions differ"):
        results.paired_difference(result([0, 1, 2]), result([0, 1, 3]), "acc", 100, 40)
    e = results.paired_difference(result([0, 1, 2]), result([0, 1, 2]), "acc", 100, 40)
    assert e.value == 0.0
