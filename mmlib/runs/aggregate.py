"""Collect a fold sweep: per-fold metrics, mean +- std, per-fold ROC and pooled predictions.

This is what results chapters read to print the papers' "mean +- std over k
folds" tables (guidance paper Tables III-VIII, M3 Tables 3-7) and to draw their
ROC figures (guidance paper Fig. 5, M3 Figs. 4, 6, 7) with
:func:`mmlib.viz.roc.roc_figure`. Only finished folds (``done`` marker) count.

A fold that scores several methods on the same test cases (e.g. the four
uni-modal models and their ensemble of Tables III/IV, or every fusion rule of
DILRAN's Table 1) records them as ``extra["methods"] = {name: {"metrics": {...},
"y_score": [...], "per_case": {...}}}`` (the record format of
:mod:`mmlib.runs.record`); :attr:`Aggregate.methods` then holds one
:class:`MethodResult` per name. :func:`read_run` reads a sweep folder wherever it
lies (e.g. a reference run exported to ``results/``); it is the one reader of
the book's results, for every paper.
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
    """One method of a multi-method sweep.

    ``per_fold`` metrics and their ``summary`` over folds, per-fold ``roc``
    curves (classifiers), ``per_case``: one row per test case (index
    ``(fold, case_id)``), one column per metric, for methods that recorded
    per-case scores (image fusion); and ``predictions``: the test cases of all
    folds pooled (columns ``fold``, ``case_id``, ``y_true``, ``y_score``) for
    methods that recorded a score per case (classifiers). Empty otherwise.
    """

    per_fold: pd.DataFrame
    summary: pd.DataFrame
    roc: list[dict]
    per_case: pd.DataFrame = field(default_factory=pd.DataFrame)
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)

    def pooled_roc(self) -> dict:
        """One ROC curve over this method's test predictions of all folds pooled."""
        if self.predictions.empty:
            raise ParameterError("this method recorded no per-case scores (y_score)")
        return roc_points(self.predictions["y_true"], self.predictions["y_score"], where="pooled folds")

    def case_summary(self) -> pd.DataFrame:
        """Mean and sample std of every metric over the test cases of all folds (columns ``mean``, ``std``, ``n``)."""
        if self.per_case.empty:
            raise ParameterError("this method recorded no per-case scores")
        return pd.DataFrame({"mean": self.per_case.mean(), "std": self.per_case.std(), "n": self.per_case.count()})


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
    params
        The sweep's parameters (its ``params.json``; empty when absent).
    records
        Each finished fold's whole record (``metrics.json``), by fold.
    """

    chapter: str
    tag: str
    run_dir: Path
    per_fold: pd.DataFrame
    summary: pd.DataFrame
    roc: list[dict]
    predictions: pd.DataFrame
    methods: dict[str, MethodResult] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    records: dict[int, dict] = field(default_factory=dict)

    @property
    def provenance(self) -> dict:
        """The run's ``provenance.json`` (exported runs; :func:`mmlib.runs.provenance.read_provenance`)."""
        from mmlib.runs.provenance import read_provenance

        return read_provenance(self.run_dir)

    def test_cases(self) -> dict[int, list[tuple]]:
        """``{fold: sorted [(case_id, y_true), ...]}``: what two runs must share to be compared case by case."""
        if self.predictions.empty or self.predictions["case_id"].isna().any():
            raise DataError(self.run_dir, "records no case_id per test case, so its test cases are unknown")
        return {int(fold): sorted(zip(g["case_id"], g["y_true"])) for fold, g in self.predictions.groupby("fold")}

    def artifact(self, name: str, fold: int = 0) -> Path:
        """The path of an artifact (e.g. ``best.pt``) that fold ``fold`` recorded."""
        if name not in self.records.get(fold, {}).get("artifacts", []):
            raise DataError(self.run_dir / f"fold-{fold}", f"records no artifact {name!r}")
        return self.run_dir / f"fold-{fold}" / name

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

    rows, curves, predictions, method_records, records = [], [], [], {}, {}
    for fold_dir in fold_dirs:
        fold = int(fold_dir.name.split("-", 1)[1])
        try:
            record = json.loads((fold_dir / METRICS).read_text())
        except json.JSONDecodeError as exc:
            raise DataError(fold_dir / METRICS, f"not valid JSON ({exc})") from None
        if "metrics" not in record:
            raise DataError(fold_dir / METRICS, "not a fold record: no 'metrics'")
        records[fold] = record
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
            method_records.setdefault(method, []).append((fold, result, pred.get("y_true"), pred.get("case_id")))
    per_fold = pd.DataFrame(rows).set_index("fold")
    pooled = pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(columns=["fold", "case_id", "y_true", "y_score"])
    methods = {method: _method_result(run_dir, method, entries) for method, entries in method_records.items()}
    params_path = run_dir / "params.json"
    params = json.loads(params_path.read_text()).get("params", {}) if params_path.is_file() else {}
    return Aggregate(chapter or run_dir.parent.name, tag or run_dir.name, run_dir, per_fold,
                     summarize_folds(per_fold), curves, pooled, methods, params, records)


def _method_result(run_dir: Path, method: str, records: list[tuple[int, dict, list | None]]) -> MethodResult:
    """Per-fold metrics, summary and ROC curves of one method from ``extra["methods"]`` entries."""
    rows, curves, cases, pooled = [], [], [], []
    for fold, result, y_true, case_ids in records:
        if "metrics" not in result:
            raise DataError(run_dir / f"fold-{fold}" / METRICS, f"extra.methods[{method!r}] has no 'metrics'")
        rows.append({"fold": fold, **result["metrics"]})
        cases += [{"fold": fold, "case_id": case, **values} for case, values in result.get("per_case", {}).items()]
        if "y_score" in result and y_true is not None:
            if len(result["y_score"]) != len(y_true):
                raise DataError(run_dir / f"fold-{fold}" / METRICS,
                                f"extra.methods[{method!r}] has {len(result['y_score'])} scores for {len(y_true)} cases")
            curves.append({"fold": fold, **roc_points(y_true, result["y_score"], where=f"fold {fold}, {method}")})
            pooled.append(pd.DataFrame({"fold": fold, "case_id": case_ids if case_ids is not None else [None] * len(y_true),
                                        "y_true": y_true, "y_score": result["y_score"]}))
    per_fold = pd.DataFrame(rows).set_index("fold")
    per_case = pd.DataFrame(cases).set_index(["fold", "case_id"]) if cases else pd.DataFrame()
    predictions = pd.concat(pooled, ignore_index=True) if pooled else pd.DataFrame()
    return MethodResult(per_fold, summarize_folds(per_fold), curves, per_case, predictions)
