"""The "paper vs this book" table: a paper's numbers beside the ones this book measured.

A chapter types a paper table in once, as a :class:`PaperTable` that names the
paper file in ``../shared/papers/`` and the table number (e.g. the guidance
paper's Table III), then calls :func:`compare` with its own fold means and
stds. The result is a pandas ``Styler`` whose caption names the paper table and
the data behind this book's numbers. (Hand-written: no library formats this.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmlib.errors import ParameterError

#: Shown where one side has no value for a row or metric.
MISSING = "—"

#: Column labels inside each metric of the comparison.
SIDES = ("paper", "this book", "difference")

_MEAN_STD = re.compile(
    r"^\s*(?P<mean>[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*"
    r"(?:(?:±|\+/-|\+-)\s*(?P<std>\d*\.?\d+(?:[eE][-+]?\d+)?))?\s*$"
)


def parse_mean_std(value: float | int | str | None) -> tuple[float, float]:
    """Parse a paper cell: ``0.917``, ``"0.917±0.061"``, ``"0.917 +- 0.061"`` -> ``(mean, std)``.

    A missing std is NaN; ``None``, ``""``, ``"—"`` and ``"-"`` give ``(nan, nan)``.
    """
    if value is None:
        return np.nan, np.nan
    if isinstance(value, (int, float, np.number)):
        return float(value), np.nan
    text = str(value).strip()
    if text in ("", MISSING, "-", "–"):
        return np.nan, np.nan
    match = _MEAN_STD.match(text)
    if match is None:
        raise ParameterError(f"cannot read {value!r} as a number or 'mean±std'")
    std = match.group("std")
    return float(match.group("mean")), float(std) if std is not None else np.nan


@dataclass(frozen=True)
class PaperTable:
    """One table of a paper, typed in once.

    ``paper_file`` is the file name in ``../shared/papers/`` (e.g.
    ``"cross-modality-guidance-dual-attention.txt"``), ``table`` its label in
    the paper (``"Table III"``), ``rows`` maps a method (row) to its metric
    values (floats or ``"mean±std"`` strings as printed), and ``columns`` lists
    the metrics in the paper's order, named as this book names them
    (:data:`mmlib.eval.metrics.METRICS`).
    """

    paper_file: str
    table: str
    caption: str
    rows: dict[str, dict[str, float | str]]
    columns: list[str] = field(default_factory=list)

    def __post_init__(self):
        for method, values in self.rows.items():
            unknown = set(values) - set(self.columns)
            if unknown:
                raise ParameterError(
                    f"{self.table} of {self.paper_file}: row {method!r} has metrics "
                    f"{sorted(unknown)} that are not among columns {self.columns}"
                )
            for metric, value in values.items():
                try:
                    parse_mean_std(value)
                except ParameterError as exc:
                    raise ParameterError(
                        f"{self.table} of {self.paper_file}, row {method!r}, {metric}: {exc}"
                    ) from None

    def frame(self) -> pd.DataFrame:
        """The table as numbers: rows = methods, MultiIndex columns ``(metric, "mean"|"std")``."""
        data = {
            method: {
                (metric, stat): parse_mean_std(values.get(metric))[i]
                for metric in self.columns
                for i, stat in enumerate(("mean", "std"))
            }
            for method, values in self.rows.items()
        }
        columns = pd.MultiIndex.from_product([self.columns, ["mean", "std"]])
        return pd.DataFrame.from_dict(data, orient="index").reindex(columns=columns)


def measured_table(summaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Stack per-method :func:`~mmlib.eval.metrics.summarize_folds` frames into one measured table.

    Returns rows = methods and MultiIndex columns ``(metric, "mean"|"std")``,
    the layout :func:`compare` reads.
    """
    data = {
        method: {(metric, stat): summary.loc[metric, stat] for metric in summary.index for stat in ("mean", "std")}
        for method, summary in summaries.items()
    }
    return pd.DataFrame.from_dict(data, orient="index")


def _measured_value(measured: pd.DataFrame, method: str, metric: str) -> tuple[float, float]:
    """Mean and std of ``metric`` for ``method`` from a MultiIndex or flat measured frame."""
    if method not in measured.index:
        return np.nan, np.nan
    row = measured.loc[method]
    if isinstance(measured.columns, pd.MultiIndex):
        mean = row.get((metric, "mean"), np.nan)
        std = row.get((metric, "std"), np.nan)
    else:
        mean = row.get(metric, np.nan)
        std = row.get(f"{metric}_std", np.nan)
    return parse_mean_std(mean)[0] if isinstance(mean, str) else float(mean), float(std)


def _cell(mean: float, std: float, digits: int) -> str:
    if np.isnan(mean):
        return MISSING
    if np.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def compare_frame(paper: PaperTable, measured: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Paper and measured numbers side by side, as strings.

    ``measured`` has one row per method and, per metric, either MultiIndex
    columns ``(metric, "mean")`` / ``(metric, "std")`` (see :func:`measured_table`)
    or flat columns ``metric`` and ``metric + "_std"``. The result has rows =
    the paper's methods followed by methods only this book measured, and
    MultiIndex columns ``(metric, "paper" | "this book" | "difference")``; the
    difference is this book's mean minus the paper's. Cells with no value on
    one side read ``"—"``.
    """
    if isinstance(measured.columns, pd.MultiIndex):
        measured_metrics = list(dict.fromkeys(measured.columns.get_level_values(0)))
    else:
        measured_metrics = [c for c in measured.columns if not str(c).endswith("_std")]
    metrics = list(paper.columns) + [m for m in measured_metrics if m not in paper.columns]
    methods = list(paper.rows) + [m for m in measured.index if m not in paper.rows]
    paper_numbers = paper.frame()
    data = {}
    for method in methods:
        cells = {}
        for metric in metrics:
            if method in paper_numbers.index and metric in paper.columns:
                p_mean, p_std = paper_numbers.loc[method, (metric, "mean")], paper_numbers.loc[method, (metric, "std")]
            else:
                p_mean, p_std = np.nan, np.nan
            m_mean, m_std = _measured_value(measured, method, metric)
            diff = m_mean - p_mean
            cells[(metric, "paper")] = _cell(p_mean, p_std, digits)
            cells[(metric, "this book")] = _cell(m_mean, m_std, digits)
            cells[(metric, "difference")] = MISSING if np.isnan(diff) else f"{diff:+.{digits}f}"
        data[method] = cells
    columns = pd.MultiIndex.from_product([metrics, list(SIDES)], names=["metric", ""])
    frame = pd.DataFrame.from_dict(data, orient="index").reindex(columns=columns)
    frame.index.name = "method"
    return frame


def compare(paper: PaperTable, measured: pd.DataFrame, digits: int = 3, data_note: str = "") -> "pd.io.formats.style.Styler":
    """:func:`compare_frame` as a styled HTML table whose caption names the paper table and the data.

    ``data_note`` says what produced this book's numbers (dataset, folds,
    epochs, e.g. ``"synthetic phantoms, 3 folds, 2 epochs on CPU"``); the
    caption always shows it, so no number in the book is left without its data.
    """
    frame = compare_frame(paper, measured, digits=digits)
    note = data_note.strip() or "not stated"
    caption = (
        f"{paper.table} of {paper.paper_file} ({paper.caption}) beside this book's numbers. "
        f"This book: {note}. Difference = this book − paper."
    )
    return (
        frame.style.set_caption(caption)
        .set_properties(**{"text-align": "center", "white-space": "nowrap"})
        .set_table_styles(
            [
                {"selector": "caption", "props": "caption-side: top; text-align: left; font-weight: normal;"},
                {"selector": "th", "props": "text-align: center;"},
                {"selector": "th.col_heading.level0", "props": "border-bottom: 1px solid #888;"},
            ]
        )
    )


def paper_beside_book(tables: dict[str, PaperTable], measured: pd.DataFrame, book: str, digits: int = 3) -> pd.DataFrame:
    """Several paper tables of one layout (e.g. one per dataset) beside this book's numbers, as strings.

    Per metric, one column per paper table (labelled by its key in ``tables``,
    e.g. ``"BraTS2018 (Table III)"``) and one for this book (labelled ``book``,
    which should name the data, e.g. ``"this book (phantoms)"``). Rows are the
    first table's methods, then methods only this book measured (see
    :func:`compare_frame`).
    """
    if not tables:
        raise ParameterError("paper_beside_book needs at least one paper table")
    frames = {label: compare_frame(table, measured, digits=digits) for label, table in tables.items()}
    first = next(iter(frames.values()))
    metrics = list(dict.fromkeys(first.columns.get_level_values(0)))
    columns = {}
    for metric in metrics:
        for label, frame in frames.items():
            columns[(metric, label)] = frame[(metric, "paper")].reindex(first.index)
        columns[(metric, book)] = first[(metric, "this book")]
    out = pd.concat(columns, axis=1)
    out.index.name = "method"
    return out
