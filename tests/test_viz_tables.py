"""Result tables laid out for the book's column (mmlib.viz.tables)."""

from __future__ import annotations

import pandas as pd
import pytest
from unittest import mock

from mmlib.errors import ParameterError
from mmlib.viz.tables import long_table, show_comparison, show_provenance

COLUMNS = pd.MultiIndex.from_tuples([("auc", "paper"), ("auc", "this book"), ("acc", "paper"), ("acc", "this book")])
FRAME = pd.DataFrame([["0.9 ± 0.1", "0.7 ± 0.1", "0.8", "0.6"], ["0.8", "—", "0.7", "0.5"]],
                     index=pd.Index(["T1ce", "Flair"], name="method"), columns=COLUMNS)


def test_long_table_keeps_every_number_in_metric_then_method_order():
    long = long_table(FRAME)
    assert list(long.columns) == ["paper", "this book"]
    assert list(long.index) == [("auc", "T1ce"), ("auc", "Flair"), ("acc", "T1ce"), ("acc", "Flair")]
    assert long.loc[("acc", "Flair"), "this book"] == "0.5" and long.loc[("auc", "T1ce"), "paper"] == "0.9 ± 0.1"
    with pytest.raises(ParameterError):
        long_table(pd.DataFrame({"auc": [1.0]}))


def _html_of(call) -> str:
    with mock.patch("mmlib.viz.tables.display") as display:
        call()
    return "".join(shown.data for (shown,), _ in display.call_args_list)


def test_show_comparison_puts_the_headline_first_and_every_metric_in_a_fold_out():
    html = _html_of(lambda: show_comparison(FRAME, "Table X <beside> the book", headline="auc"))
    assert "Table X &lt;beside&gt; the book" in html  # the caption is escaped
    assert html.index("auc: method") < html.index("<details>") < html.index("acc")
    assert 'class="dataframe"' in html and "white-space: nowrap" not in html
    open_html = _html_of(lambda: show_comparison(FRAME, "caption"))
    assert "<details>" not in open_html and "0.5" in open_html
    with pytest.raises(ParameterError, match="headline"):
        show_comparison(FRAME, "c", headline="psnr")


def test_show_provenance_is_one_row_per_run_with_every_field_folded_out():
    table = pd.DataFrame({"run a": {"git commit": "abc (clean)", "wall time": "1.0 min", "command": "bash x.sh",
                                    "data": "3 files"}, "run b": {"git commit": "def (clean)", "wall time": "2.0 min",
                                                                   "command": "bash y.sh", "data": "2 files"}})
    html = _html_of(lambda: show_provenance(table))
    summary, details = html.split("<details>")
    assert "run a" in summary and "3 files" not in summary and "3 files" in details
    with pytest.raises(ParameterError, match="lacks"):
        show_provenance(table, summary=("device",))
