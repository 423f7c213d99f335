"""The committed reference runs of the MASAN part, read once for every results chapter.

Runs live in ``results/masan/`` (written by ``scripts/reference-masan-*.sh``
through the fold runner and :mod:`mmlib.runs.export`):

* ``table-2``: :doc:`masan-model` with MASAN and H-FCN, AD vs NC + MCI, ten repetitions;
* ``figure-3``: the same chapter with MASAN's attention fusion and element-wise addition, AD vs NC;
* ``oasis`` and ``abide``: the single-branch experiments on real data;
* ``development/<setting>``: the development draw that chose the CPU settings.

Every statistic over repetitions uses the corrected resampled t-test of
Nadeau & Bengio (:func:`mmlib.eval.statistics.corrected_resampled_ttest`), the
one that fits repeated random 7:3 splits (the splits share training subjects,
so a plain t-test over repetitions is too confident). Runs are read with
:func:`mmlib.runs.aggregate.read_run`; ``tests/test_masan_results.py`` checks
that every chapter still reads its committed run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mmlib.config import REPO_ROOT
from mmlib.errors import DataError, ParameterError
from mmlib.eval.statistics import Estimate, corrected_resampled_ttest
from mmlib.eval.tables import measured_table, paper_beside_book
from mmlib.papers.masan import paper
from mmlib.runs.aggregate import Aggregate, MethodResult, read_run
from mmlib.runs.provenance import describe_provenance

#: Where the committed runs live.
RESULTS = REPO_ROOT / "results" / "masan"
#: Table 2's metrics (the paper's columns) and the AUC this book adds.
METRICS = ("acc", "precision", "recall")
#: Recorded method -> row name of the phantom tables (the paper's names for its two rows).
TABLE_2_ROWS = {"hfcn": "H-FCN", "masan": "Ours", "ceiling": "ceiling (generator parameters)",
                "ceiling-t1": "ceiling (T1 parameters only)"}
FIGURE_3_ROWS = {"masan": "Attention fusion (ours)", "masan-add": "Element-wise addition",
                 "ceiling": "ceiling (generator parameters)"}
OASIS_ROWS = {"masan": "MASAN structural branch (2-D)", "hfcn": "H-FCN (2-D)", "pca-lr": "PCA + logistic regression"}
ABIDE_ROWS = {"masan": "MASAN functional branch (regions)", "connectome-correlation": "correlation + logistic regression",
              "connectome-tangent": "tangent + logistic regression", "site-only": "site alone (confound check)"}


def results_root(results_dir: str | os.PathLike | None = None) -> Path:
    """``results_dir``, or the repository's ``results/masan``."""
    return Path(results_dir) if results_dir else RESULTS


def optional_run(folder: str | os.PathLike) -> Aggregate | None:
    """The run in ``folder``, or ``None`` when it has not been committed."""
    return read_run(folder) if (Path(folder) / "provenance.json").is_file() else None


def provenance_table(runs: Mapping[str, Aggregate]) -> pd.DataFrame:
    """One column per run: where its numbers came from."""
    return pd.DataFrame({name: describe_provenance(run.provenance) for name, run in runs.items()})


def named_rows(run: Aggregate, names: Mapping[str, str]) -> dict[str, MethodResult]:
    """The run's methods under their table names, in ``names``' order (methods not run are left out)."""
    return {row: run.methods[m] for m, row in names.items() if m in run.methods}


def split_sizes(run: Aggregate) -> tuple[int, int]:
    """``(n_train, n_test)`` of the run's repetitions (one value: every repetition has the same sizes)."""
    sizes = {(int(r["extra"]["n_train"]), int(r["extra"]["n_test"])) for r in run.records.values()}
    if len(sizes) != 1:
        raise DataError(run.run_dir, f"repetitions differ in their split sizes {sorted(sizes)}")
    return sizes.pop()


def in_percent(rows: Mapping[str, MethodResult], metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean and std over repetitions of each row's ``metrics`` in percent, the layout of Table 2."""
    summaries = {row: result.summary.loc[list(metrics), ["mean", "std"]] * 100 for row, result in rows.items()}
    return measured_table(summaries)


def beside_table_2(rows: Mapping[str, MethodResult], book: str) -> pd.DataFrame:
    """Table 2 of the paper beside this book's mean ± std in percent (accuracy, precision, recall)."""
    return paper_beside_book({"paper (ADNI3, Table 2)": paper.TABLE_2}, in_percent(rows), book, digits=2)


def beside_paper_figure_3(rows: Mapping[str, MethodResult], book: str = "this book (phantoms)") -> pd.DataFrame:
    """Fig. 3's rows (no values in the paper's text: "—") beside this book's mean ± std in percent."""
    return paper_beside_book({"paper (ADNI3, Fig. 3)": paper.FIGURE_3}, in_percent(rows), book, digits=2)


def per_repetition(rows: Mapping[str, MethodResult], metric: str) -> pd.DataFrame:
    """``metric`` per repetition (rows) and method (columns)."""
    return pd.DataFrame({name: result.per_fold[metric] for name, result in rows.items()}).rename_axis("repetition")


def mean_ci(values: Sequence[float], n_train: int, n_test: int) -> Estimate:
    """The mean over repetitions with the corrected resampled t interval (the test of the mean against 0)."""
    return corrected_resampled_ttest(values, n_train, n_test)


def summary_with_ci(rows: Mapping[str, MethodResult], run: Aggregate, metrics: Sequence[str] = (*METRICS, "auc")) -> pd.DataFrame:
    """Per row and metric: mean over repetitions and its 95 % corrected-t interval, as text."""
    n_train, n_test = split_sizes(run)
    table = {}
    for name, result in rows.items():
        cells = {}
        for metric in metrics:
            e = mean_ci(result.per_fold[metric], n_train, n_test)
            cells[metric] = f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"
        table[name] = cells
    return pd.DataFrame.from_dict(table, orient="index").rename_axis("method")


def paired_difference(a: MethodResult, b: MethodResult, metric: str, n_train: int, n_test: int) -> Estimate:
    """``b - a`` of ``metric`` per repetition, its mean, corrected-t CI and p-value (both on the same splits)."""
    if not a.per_fold.index.equals(b.per_fold.index):
        raise DataError("paired difference", f"repetitions differ: {list(a.per_fold.index)} vs {list(b.per_fold.index)}")
    return corrected_resampled_ttest((b.per_fold[metric] - a.per_fold[metric]).to_numpy(), n_train, n_test)


def paired_table(base: MethodResult, other: MethodResult, run: Aggregate,
                 metrics: Sequence[str] = (*METRICS, "auc")) -> pd.DataFrame:
    """``other - base`` per metric: mean difference, 95 % CI, p-value, repetitions with other ahead."""
    n_train, n_test = split_sizes(run)
    rows = {}
    for metric in metrics:
        e = paired_difference(base, other, metric, n_train, n_test)
        diff = other.per_fold[metric] - base.per_fold[metric]
        rows[metric] = {"mean difference": round(e.value, 4), "95% CI": f"[{e.low:+.3f}, {e.high:+.3f}]",
                        "p (corrected t)": round(float(e.p_value), 4),
                        "repetitions ahead": f"{int((diff > 0).sum())} of {len(diff)}"}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("metric")


def bar_frame(rows: Mapping[str, MethodResult], metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Rows = methods, columns ``(metric, "mean" | "std")`` over repetitions (fractions), for grouped bars."""
    return measured_table({row: result.summary.loc[list(metrics)] for row, result in rows.items()})


def fusion_weight_records(run: Aggregate) -> pd.DataFrame:
    """Per repetition: the share of MASAN's fusion weight (AD test subjects) in the atrophied neighbourhoods."""
    rows = {}
    for fold, record in sorted(run.records.items()):
        weights = record["extra"].get("fusion_weights")
        if weights and "share_ad" in weights:
            rows[fold] = weights["share_ad"]
    if not rows:
        raise DataError(run.run_dir, "no repetition recorded fusion weights with their share (phantoms, MASAN)")
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("repetition")


def mean_weight_map(run: Aggregate, key: str = "mean_ad") -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...]]:
    """``(weights per patch averaged over repetitions, grid, T1 shape)`` of MASAN's spatial fusion attention."""
    maps, grids, shapes = [], set(), set()
    for record in run.records.values():
        weights = record["extra"].get("fusion_weights")
        if weights:
            maps.append(weights[key])
            grids.add(tuple(weights["grid"]))
            shapes.add(tuple(weights.get("t1_shape", ())))
    if not maps or len(grids) != 1 or len(shapes) != 1:
        raise DataError(run.run_dir, "fusion weights missing or recorded on different grids")
    return np.mean(maps, axis=0), grids.pop(), shapes.pop()


def curves(run: Aggregate, fold: int = 0) -> dict[str, list[dict]]:
    """The training curves repetition ``fold`` recorded, by method."""
    if fold not in run.records:
        raise ParameterError(f"{run.run_dir} has no repetition {fold}")
    return run.records[fold]["extra"]["curves"]


def train_fit(run: Aggregate) -> pd.DataFrame:
    """Training-set accuracy and AUC of every method, mean and minimum over repetitions: did each network fit?"""
    frames = []
    for fold, record in sorted(run.records.items()):
        for method, metrics in record["extra"].get("train_metrics", {}).items():
            frames.append({"method": method, "repetition": fold, "train acc": metrics["acc"], "train AUC": metrics["auc"]})
    if not frames:
        raise DataError(run.run_dir, "records no training-set metrics")
    table = pd.DataFrame(frames).groupby("method")[["train acc", "train AUC"]].agg(["mean", "min"])
    table.columns = [f"{a} ({b})" for a, b in table.columns]
    return table


def test_auc(run: Aggregate, methods: Sequence[str]) -> pd.DataFrame:
    """Test AUC of ``methods`` per repetition."""
    return pd.DataFrame({m: run.methods[m].per_fold["auc"] for m in methods if m in run.methods})


#: The development settings (scripts/reference-masan-development.sh), in the order the chapter discusses them.
DEVELOPMENT = {"chosen-lr1e-3": "chosen: lr 1e-3, BatchNorm before the MLP, recalibrated",
               "lr1e-4": "lr 1e-4 (MASAN and H-FCN)", "no-classifier-norm": "no BatchNorm before MASAN's MLP",
               "no-recalibration": "BatchNorm statistics of training kept"}


def development_runs(root: str | os.PathLike | None = None) -> dict[str, Aggregate]:
    """The committed development settings under ``root/development`` (those present), in :data:`DEVELOPMENT` order."""
    folder = results_root(root) / "development"
    runs = {name: optional_run(folder / name) for name in DEVELOPMENT}
    return {name: run for name, run in runs.items() if run is not None}


def development_table(runs: Mapping[str, Aggregate]) -> pd.DataFrame:
    """Per setting and method: training-set accuracy and AUC (did it fit?) and the development test metrics
    (means over the repetitions run)."""
    rows = {}
    for name, run in runs.items():
        fit = {}
        for record in run.records.values():
            for method, metrics in record["extra"].get("train_metrics", {}).items():
                fit.setdefault(method, []).append((metrics["acc"], metrics["auc"]))
        for method, result in run.methods.items():
            s = result.summary["mean"]
            train = np.mean(fit.get(method, [(np.nan, np.nan)]), axis=0)
            rows[(DEVELOPMENT.get(name, name), method)] = {
                "train acc": train[0], "train AUC": train[1], "test acc": s["acc"], "test precision": s["precision"],
                "test recall": s["recall"], "test AUC": s["auc"], "repetitions": len(result.per_fold)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["setting", "method"])
