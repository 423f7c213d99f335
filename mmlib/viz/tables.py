"""Result tables that read at the book's column width: a compact table first, every number in a fold-out.

A paper-vs-book comparison has one column per metric and source (4 metrics x 3
sources for the guidance paper, 6 x 3 for DILRAN): far wider than the book's
text column, so its cells wrap or run together. Here the same numbers are
shown as

* a **headline table** (one metric: rows = methods, columns = the paper's
  value(s) and this book's side by side), when a headline metric is named;
* the **long table**, rows = (metric, method), columns = the sources, with
  every metric; under a ``<details>`` fold-out when a headline table is shown.

Provenance records get the same treatment (:func:`show_provenance`): one short
row per run, every field in a fold-out. Rendered as plain HTML tables of class
``dataframe``, which the book's theme styles (pandas' Styler output is not).
Hand-written: no library lays out these tables.
"""

from __future__ import annotations

import html

import pandas as pd
from IPython.display import HTML, display

from mmlib.errors import ParameterError


def long_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A ``(metric, source)``-column comparison as rows ``(metric, method)`` and one column per source.

    Metrics keep the frame's order; methods keep theirs within each metric.
    """
    if not isinstance(frame.columns, pd.MultiIndex) or frame.columns.nlevels != 2:
        raise ParameterError("long_table needs columns (metric, source), as paper_beside_book or compare_frame give")
    metrics = list(dict.fromkeys(frame.columns.get_level_values(0)))
    sources = list(dict.fromkeys(frame.columns.get_level_values(1)))
    parts = {metric: frame[metric].reindex(columns=sources) for metric in metrics}
    out = pd.concat(parts, names=["metric", frame.index.name or "method"])
    return out


def _html(frame: pd.DataFrame) -> str:
    return frame.to_html(border=0, escape=True, na_rep="—")  # pandas marks it class="dataframe"


def show_comparison(frame: pd.DataFrame, caption: str, headline: str | None = None) -> None:
    """Display a paper-vs-book comparison: ``caption``, the ``headline`` metric's table, every metric below.

    ``frame`` has columns ``(metric, source)``
    (:func:`mmlib.eval.tables.paper_beside_book`, :func:`~mmlib.eval.tables.compare_frame`).
    Without ``headline`` the long table is shown open.
    """
    long = long_table(frame)
    parts = [f"<p><em>{html.escape(caption)}</em></p>"]
    if headline is not None:
        if headline not in frame.columns.get_level_values(0):
            raise ParameterError(f"headline metric {headline!r} is not among {list(dict.fromkeys(frame.columns.get_level_values(0)))}")
        parts.append(_html(frame[headline].rename_axis(f"{headline}: method")))
        parts.append(f"<details><summary>Every metric, paper and this book side by side</summary>{_html(long)}</details>")
    else:
        parts.append(_html(long))
    display(HTML("\n".join(parts)))


def show_provenance(table: pd.DataFrame, summary: tuple[str, ...] = ("git commit", "wall time", "command")) -> None:
    """Display provenance (rows = fields, columns = runs, as ``describe_provenance`` gives them) compactly.

    One row per run with the ``summary`` fields, then every field of every run
    in a fold-out, one short table per run, so no cell is cut.
    """
    runs = table.T
    missing = [f for f in summary if f not in runs.columns]
    if missing:
        raise ParameterError(f"provenance lacks the fields {missing}")
    details = "".join(f"<p><strong>{html.escape(str(run))}</strong></p>{_html(table[[run]].rename(columns={run: 'value'}))}"
                      for run in table.columns)
    display(HTML(_html(runs[list(summary)].rename_axis("run")) +
                 f"<details><summary>Full provenance of each run</summary>{details}</details>"))
