"""Collect a fold sweep: per-fold metrics, mean +- std, per-fold ROC and pooled predictions.

This is what results chapters read to print the papers' "mean +- std over k
folds" tables (guidance paper Tables III-VIII, M3 Tables 3-7) and to draw their
ROC figures (guidance paper Fig. 5, M3 Figs. 4, 6, 7) with
:func:`mmlib.viz.roc.roc_figure`. Only finished folds (``done`` marker) count.

A fold that scores several methods on the same test cases (e.g. the four
uni-modal models and their ensemble of Tables III/IV) records them as
``extra["methods"] = {name: {"metrics": {...}, "y_score": [...]}}``, its
``y_score`` in the order of the record's ``y_true``; :attr:`Aggregate.methods`
then holds one :class:`MethodResult` per name. :func:`read_run` reads a sweep
folder wherever it lies (e.g. a reference run exported to ``results/``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mmlib.errors import DataError, ParameterError
from mmlib.eval.metrics import format_mean_std, roc_points, summarize_folds
from mmlib.runs.runner import DEFAULT_OUT, METRICS, fold_is_done, resolve_chapter


@dataclass
class MethodResult:
    """One method of a multi-method sweep: ``per_fold`` metrics, their ``summary`` and per-fold ``roc`` curves."""

    per_fold: pd.DataFrame
    summary: pd.DataFrame
    roc: list[dict]


@dataclass
class Aggregate:
    """A finished sweep.

    Attributes
    ----------
    chapter, tag, run_dir
        Which sweep this is, and its folder.
    per_fold
        One row per fold (index ``fold``), one column per metric.
    summary
        One row per metric; columns ``mean``, ``std`` (sample std) and ``n_folds``.
    roc
        One ``{"fold", "fpr", "tpr", "thresholds", "auc"}`` dict per fold that
        recorded binary predictions (the input :func:`mmlib.viz.roc.roc_figure` takes).
    predictions
        The test predictions of all folds pooled: columns ``fold``, ``case_id``,
        ``y_true``, ``y_score``.
    methods
        ``{name: MethodResult}`` for folds that recorded ``extra["methods"]``
        (module docstring); empty otherwise.
    """

    chapter: str
    tag: str
    run_dir: Path
    per_fold: pd.DataFrame
    summary: pd.DataFrame
    roc: list[dict]
    predictions: pd.DataFrame
    methods: dict[str, MethodResult] = field(default_factory=dict)

    def table(self, digits: int = 3) -> pd.DataFrame:
        """The summary as ``"mean ± std"`` strings, one row per metric."""
        return format_mean_std(self.summary, digits=digits)

    def pooled_roc(self) -> dict:
        """One ROC curve over the pooled predictions of all folds."""
        if self.predictions.empty:
            raise ParameterError(f"{self.run_dir}: no fold recorded y_true and y_score")
        return roc_points(self.predictions["y_true"], self.predictions["y_score"], where=f"{self.chapter} pooled")


def _pick_tag(chapter_dir: Path) -> str:
    """The only tag of a chapter; more than one must be chosen explicitly."""
    tags = sorted(p.name for p in chapter_dir.iterdir() if p.is_dir()) if chapter_dir.is_dir() else []
    if len(tags) != 1:
        found = f"tags {tags}" if tags else "no sweep"
        raise ParameterError(f"{chapter_dir}: holds {found}; pass tag=... to choose one")
    return tags[0]


def aggregate(chapter: str | os.PathLike, tag: str | None = None, out: str | os.PathLike | None = None) -> Aggregate:
    """Read the finished folds of a sweep written by :func:`mmlib.runs.run_folds`.

    ``tag`` may be omitted when the chapter has a single sweep under ``out``.
    """
    _, name = resolve_chapter(chapter)
    chapter_dir = Path(out or DEFAULT_OUT) / name
    tag = tag or _pick_tag(chapter_dir)
    return read_run(chapter_dir / tag, chapter=name, tag=tag)


def read_run(run_dir: str | os.PathLike, chapter: str | None = None, tag: str | None = None) -> Aggregate:
    """Read the finished ``fold-<k>`` folders of one sweep folder (see :func:`aggregate`).

    ``chapter`` and ``tag`` only label the result; by default they are the
    folder's parent and own names.
    """
    run_dir = Path(run_dir)
    fold_dirs = sorted(
        (d for d in run_dir.glob("fold-*") if fold_is_done(d)), key=lambda d: int(d.name.split("-", 1)[1])
    )
    if not fold_dirs:
        raise ParameterError(f"{run_dir}: no finished fold to aggregate")

    rows, curves, predictions, method_records = [], [], [], {}
    for fold_dir in fold_dirs:
        fold = int(fold_dir.name.split("-", 1)[1])
        record = json.loads((fold_dir / METRICS).read_text())
        rows.append({"fold": fold, **record["metrics"]})
        pred = record.get("predictions", {})
        if "y_true" in pred and "y_score" in pred:
            frame = pd.DataFrame({"y_true": pred["y_true"], "y_score": pred["y_score"]})
            frame.insert(0, "case_id", pred.get("case_id", [None] * len(frame)))
            frame.insert(0, "fold", fold)
            predictions.append(frame)
            if frame["y_score"].map(lambda s: isinstance(s, (int, float))).all():
                curves.append({"fold": fold, **roc_points(frame["y_true"], frame["y_score"], where=f"fold {fold}")})
        for method, result in record.get("extra", {}).get("methods", {}).items():
            method_records.setdefault(method, []).append((fold, result, pred.get("y_true")))
    per_fold = pd.DataFrame(rows).set_index("fold")
    pooled = pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(columns=["fold", "case_id", "y_true", "y_score"])
    methods = {method: _method_result(run_dir, method, records) for method, records in method_records.items()}
    return Aggregate(chapter or run_dir.parent.name, tag or run_dir.name, run_dir, per_fold,
                     summarize_folds(per_fold), curves, pooled, methods)


def _method_result(run_dir: Path, method: str, records: list[tuple[int, dict, list | None]]) -> MethodResult:
    """Per-fold metrics, summary and ROC curves of one method from ``extra["methods"]`` entries."""
    rows, curves = [], []
    for fold, result, y_true in records:
        if "metrics" not in result:
            raise DataError(run_dir / f"fold-{fold}" / METRICS, f"extra.methods[{method!r}] has no 'metrics'")
        rows.append({"fold": fold, **result["metrics"]})
        if "y_score" in result and y_true is not None:
            if len(result["y_score"]) != len(y_true):
                raise DataError(run_dir / f"fold-{fold}" / METRICS,
                                f"extra.methods[{method!r}] has {len(result['y_score'])} scores for {len(y_true)} cases")
            curves.append({"fold": fold, **roc_points(y_true, result["y_score"], where=f"fold {fold}, {method}")})
    per_fold = pd.DataFrame(rows).set_index("fold")
    return MethodResult(per_fold, summarize_folds(per_fold), curves)
