"""The paper-vs-book comparison table (mmlib.eval.tables)."""

import numpy as np
import pandas as pd
import pytest

from mmlib.config import REPO_ROOT
from mmlib.errors import ParameterError
from mmlib.eval.metrics import summarize_folds
from mmlib.eval.tables import (MISSING, PaperTable, compare, compare_frame, measured_table, paper_beside_book,
                               parse_mean_std)

# Guidance paper, Table III (BraTS2018, uni-modality models), two rows as printed.
TABLE_III = PaperTable(
    paper_file="cross-modality-guidance-dual-attention.txt",
    table="Table III",
    caption="uni-modality models on BraTS2018",
    rows={
        "T1ce": {"auc": "0.917±0.061", "acc": "0.926±0.038", "sensitivity": "0.933±0.046", "specificity": "0.900±0.075"},
        "T1": {"auc": "0.756±0.027", "acc": "0.818±0.024", "sensitivity": "0.627±0.046", "specificity": "0.886±0.029"},
    },
    columns=["auc", "acc", "sensitivity", "specificity"],
)


def test_paper_table_is_quoted_from_the_paper_file():
    text = REPO_ROOT.parent / "shared" / "papers" / TABLE_III.paper_file
    if not text.exists():
        pytest.skip(f"{text} is absent")
    lines = text.read_text().splitlines()
    assert "T1ce\t0.917±0.061\t0.926±0.038\t0.933±0.046\t0.900±0.075" in lines


@pytest.mark.parametrize(
    "cell, expected",
    [("0.812±0.031", (0.812, 0.031)), ("0.812 +- 0.031", (0.812, 0.031)), (0.5, (0.5, np.nan)), ("—", (np.nan, np.nan))],
)
def test_parse_mean_std(cell, expected):
    np.testing.assert_equal(parse_mean_std(cell), expected)


def test_bad_paper_cell_names_table_and_row():
    with pytest.raises(ParameterError, match="Table IX.*row 'A'.*auc"):
        PaperTable("p.txt", "Table IX", "x", rows={"A": {"auc": "high"}}, columns=["auc"])


def test_compare_puts_numbers_in_the_right_cells():
    measured = measured_table(
        {
            "T1ce": summarize_folds([{"auc": 0.90, "acc": 0.9}, {"auc": 0.95, "acc": 0.9}, {"auc": 1.0, "acc": 0.9}]),
            "T2": summarize_folds([{"auc": 0.7, "acc": 0.6}, {"auc": 0.7, "acc": 0.8}]),
        }
    )
    frame = compare_frame(TABLE_III, measured)
    assert list(frame.index) == ["T1ce", "T1", "T2"]
    assert frame.loc["T1ce", ("auc", "paper")] == "0.917 ± 0.061"
    assert frame.loc["T1ce", ("auc", "this book")] == "0.950 ± 0.050"
    assert frame.loc["T1ce", ("auc", "difference")] == "+0.033"
    assert frame.loc["T1", ("acc", "paper")] == "0.818 ± 0.024"
    # Rows or metrics present on one side only.
    assert frame.loc["T1", ("auc", "this book")] == MISSING
    assert frame.loc["T1", ("auc", "difference")] == MISSING
    assert frame.loc["T2", ("auc", "paper")] == MISSING
    assert frame.loc["T2", ("acc", "this book")] == "0.700 ± 0.141"
    assert frame.loc["T1ce", ("sensitivity", "this book")] == MISSING


def test_compare_reads_flat_columns():
    measured = pd.DataFrame({"auc": [0.9], "auc_std": [0.01]}, index=["T1"])
    frame = compare_frame(TABLE_III, measured, digits=2)
    assert frame.loc["T1", ("auc", "this book")] == "0.90 ± 0.01"
    assert frame.loc["T1", ("auc", "difference")] == "+0.14"


def test_compare_styler_caption_names_table_file_and_data():
    measured = pd.DataFrame({"auc": [0.9]}, index=["T1ce"])
    html = compare(TABLE_III, measured, data_note="synthetic phantoms, 3 folds").to_html()
    assert "Table III" in html and "cross-modality-guidance-dual-attention.txt" in html
    assert "synthetic phantoms, 3 folds" in html
    assert "0.917 ± 0.061" in html and "this book" in html


def test_paper_beside_book_puts_each_table_and_the_book_per_metric():
    other = PaperTable("p.txt", "Table IV", "x", rows={"T1ce": {"auc": "0.901±0.023"}, "T1": {"auc": 0.733}},
                       columns=["auc", "acc", "sensitivity", "specificity"])
    measured = measured_table({"T1ce": summarize_folds([{"auc": 0.8}, {"auc": 0.9}]),
                               "Ensemble": summarize_folds([{"auc": 0.6}, {"auc": 0.6}])})
    frame = paper_beside_book({"2018": TABLE_III, "2019": other}, measured, "this book (phantoms)")
    assert list(frame.columns[:3]) == [("auc", "2018"), ("auc", "2019"), ("auc", "this book (phantoms)")]
    assert list(frame.index) == ["T1ce", "T1", "Ensemble"]
    assert frame.loc["T1ce", ("auc", "2019")] == "0.901 ± 0.023"
    assert frame.loc["T1", ("auc", "2019")] == "0.733"
    assert frame.loc["Ensemble", ("auc", "this book (phantoms)")] == "0.600 ± 0.000"
    assert frame.loc["Ensemble", ("auc", "2018")] == MISSING
    with pytest.raises(ParameterError):
        paper_beside_book({}, measured, "book")
