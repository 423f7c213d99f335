"""Evaluation: fold metrics, mean +- std tables, ROC averaging and paper-vs-book tables."""

from mmlib.eval.metrics import (
    METRICS,
    binary_metrics,
    format_mean_std,
    mean_roc,
    roc_points,
    summarize_folds,
)
from mmlib.eval.tables import PaperTable, compare, compare_frame, measured_table, parse_mean_std

__all__ = [
    "METRICS",
    "PaperTable",
    "binary_metrics",
    "compare",
    "compare_frame",
    "format_mean_std",
    "mean_roc",
    "measured_table",
    "parse_mean_std",
    "roc_points",
    "summarize_folds",
]
