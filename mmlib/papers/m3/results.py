"""The committed reference runs of the M3 part, read once for every results chapter.

Runs live in ``results/m3/`` (:data:`RUNS`): the 5-fold phantom runs of the fold
chapter for each task, the 5-fold runs of the radiomics chapter on each real
cohort, and the development runs that chose the training settings. Every
results chapter reads them through these functions (``read_run`` underneath),
so the chapters hold no reading logic and ``tests/test_m3_results.py`` checks
that every committed run still reads. Rows are named as the paper names them
(:mod:`mmlib.papers.m3.paper`).

Statistics: AUCs are given per fold (mean ± std, the paper's layout) and on the
pooled out-of-fold scores of all patients, with a stratified bootstrap 95% CI
(:func:`mmlib.eval.statistics.bootstrap_auc`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mmlib.config import REPO_ROOT
from mmlib.errors import DataError, ParameterError
from mmlib.eval.statistics import bootstrap_auc, corrected_resampled_ttest, delong_test
from mmlib.eval.tables import PaperTable, measured_table, paper_beside_book
from mmlib.papers.m3 import paper
from mmlib.papers.m3.protocol import CEILING, MULTIMODAL, method_name
from mmlib.runs.aggregate import Aggregate, MethodResult, read_run
from mmlib.runs.paired import check_same_test_cases
from mmlib.runs.provenance import describe_provenance

#: Where the committed runs live.
RESULTS = REPO_ROOT / "results" / "m3"
#: The runs, by folder under ``results/m3``.
RUNS = {"tumour": "tumour", "ht": "ht", "gvm": "gvm-radiomics", "brats": "brats2017-radiomics"}
#: The development runs (``results/m3/development/<setting>``).
DEVELOPMENT = "development"
#: This book's label for the ceiling row.
CEILING_ROW = "Ceiling (generator parameters)"
#: Each task's paper rows by modality name.
ROWS = {"tumour": paper.TUMOUR_ROWS, "ht": paper.HT_ROWS}


def results_root(results_dir: str | os.PathLike | None = None) -> Path:
    """``results_dir``, or the repository's ``results/m3``."""
    return Path(results_dir) if results_dir else RESULTS


def optional_run(folder: str | os.PathLike) -> Aggregate | None:
    """The run in ``folder``, or ``None`` when it has not been committed."""
    return read_run(folder) if (Path(folder) / "provenance.json").is_file() else None


def run(results_dir: str | os.PathLike | None, name: str) -> Aggregate | None:
    """One of :data:`RUNS` by its key, or ``None`` when absent."""
    if name not in RUNS:
        raise ParameterError(f"run {name!r} must be one of {list(RUNS)}")
    return optional_run(results_root(results_dir) / RUNS[name])


def provenance_table(runs: Mapping[str, Aggregate]) -> pd.DataFrame:
    """One column per run: where its numbers came from."""
    return pd.DataFrame({name: describe_provenance(r.provenance) for name, r in runs.items()})


def mean_metric(result: MethodResult, metric: str = "auc") -> float:
    return float(result.summary.loc[metric, "mean"])


def task_rows(run: Aggregate, task: str, variant: str = "m3", head: str = "svm",
              ceiling: bool = True) -> dict[str, MethodResult]:
    """A variant's rows of Table 3 / 4 (or 5 / 6) by the paper's row names, plus the ceiling row."""
    rows = {label: run.methods[method_name(variant, head, m)] for m, label in ROWS[task].items()
            if method_name(variant, head, m) in run.methods}
    if ceiling and CEILING in run.methods:
        rows[CEILING_ROW] = run.methods[CEILING]
    return rows


def table_7_rows(run: Aggregate, ceiling: bool = True) -> dict[str, MethodResult]:
    """Table 7's rows (Ours, Direct CNN, Ours-RF, -GBM, -MLP) that the run holds, plus the ceiling."""
    rows = {label: run.methods[m] for m, label in paper.TABLE_7_ROWS.items() if m in run.methods}
    if ceiling and CEILING in run.methods:
        rows[CEILING_ROW] = run.methods[CEILING]
    return rows


def beside_paper(tables: Mapping[str, PaperTable], rows: Mapping[str, MethodResult], book: str) -> pd.DataFrame:
    """The paper's tables (one column each, per metric) beside this book's mean ± std over folds."""
    return paper_beside_book(dict(tables), measured_table({r: res.summary for r, res in rows.items()}), book)


def pooled(run: Aggregate, methods: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """``(y_true, {method: scores}, case_ids)`` pooled over the run's folds (out-of-fold scores of every patient)."""
    y, cases, scores = [], [], {m: [] for m in methods}
    for fold, record in sorted(run.records.items()):
        recorded = record["extra"].get("methods", {})
        missing = [m for m in methods if m not in recorded]
        if missing:
            raise DataError(run.run_dir / f"fold-{fold}", f"records no method(s) {missing}")
        y += record["predictions"]["y_true"]
        cases += record["predictions"]["case_id"]
        for m in methods:
            scores[m] += recorded[m]["y_score"]
    return np.asarray(y, dtype=int), {m: np.asarray(v, dtype=float) for m, v in scores.items()}, np.asarray(cases)


def auc_table(run: Aggregate, methods: Mapping[str, str], seed: int = 0) -> pd.DataFrame:
    """Per row (``{label: method}``): mean ± std of the fold AUCs, and the pooled AUC with its bootstrap 95% CI."""
    y, scores, _ = pooled(run, list(methods.values()))
    rows = {}
    for label, m in methods.items():
        estimate = bootstrap_auc(y, scores[m], seed=seed)
        s = run.methods[m].summary.loc["auc"]
        rows[label] = {"AUC, mean over folds": round(float(s["mean"]), 3), "std": round(float(s["std"]), 3),
                       "pooled AUC": round(estimate.value, 3), "95% CI": f"[{estimate.low:.3f}, {estimate.high:.3f}]"}
    frame = pd.DataFrame(rows).T
    frame.index.name = "row"
    return frame


def roc_curves(rows: Mapping[str, MethodResult]) -> dict[str, list[dict]]:
    """Per row, its folds' ROC curves (the input of :func:`mmlib.viz.roc.roc_figure`)."""
    return {label: result.roc for label, result in rows.items()}


def paired_tests(run: Aggregate, pairs: Sequence[tuple[str, str]], labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """For each ``(a, b)``: AUC(b) - AUC(a), DeLong's test on the pooled scores and the corrected t-test over folds.

    The corrected resampled t-test (Nadeau & Bengio) reads the per-fold AUC
    differences with ``n_test / n_train`` of the run's records.
    """
    labels = labels or {}
    methods = sorted({m for pair in pairs for m in pair})
    y, scores, _ = pooled(run, methods)
    n_train, n_test = _side_sizes(run)
    rows = []
    for a, b in pairs:
        d = delong_test(y, scores[a], scores[b])
        per_fold = (run.methods[b].per_fold["auc"] - run.methods[a].per_fold["auc"]).to_numpy()
        t = corrected_resampled_ttest(per_fold, n_train, n_test)
        rows.append({"comparison": f"{labels.get(b, b)} vs {labels.get(a, a)}",
                     "AUC difference (pooled)": round(d.value, 3), "DeLong 95% CI": f"[{d.low:+.3f}, {d.high:+.3f}]",
                     "DeLong p": round(d.p_value, 4), "mean fold difference": round(t.value, 3),
                     "corrected t p": round(t.p_value, 4)})
    return pd.DataFrame(rows).set_index("comparison")


def _side_sizes(run: Aggregate) -> tuple[int, int]:
    """Mean training-fold and test-fold patients per fold (train + validation count as training)."""
    sizes = [r["extra"].get("n_cases", {}) for r in run.records.values()]
    if not sizes or not all(sizes):
        raise DataError(run.run_dir, "records no n_cases per side")
    n_test = int(round(np.mean([s["test"] for s in sizes])))
    n_train = int(round(np.mean([sum(v for k, v in s.items() if k != "test") for s in sizes])))
    return n_train, n_test


def side_sizes(run: Aggregate) -> tuple[int, int]:
    """``(n_train, n_test)`` per fold, for the corrected resampled t-test."""
    return _side_sizes(run)


def dice_summary(run: Aggregate) -> pd.DataFrame:
    """Segmentation Dice per modality: mean over the patients of each fold, then mean ± std over folds."""
    rows = {}
    for fold, record in sorted(run.records.items()):
        for modality, sides in record["extra"].get("dice", {}).items():
            for side, per_case in sides.items():
                rows.setdefault(modality, {}).setdefault(side, []).append(float(np.mean(list(per_case.values()))))
    if not rows:
        raise DataError(run.run_dir, "records no Dice")
    frame = pd.DataFrame({m: {f"{side} Dice": f"{np.mean(v):.3f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.3f}"
                              for side, v in sides.items()} for m, sides in rows.items()}).T
    frame.index.name = "modality"
    return frame


def dice_values(run: Aggregate, side: str = "test") -> dict[str, float]:
    """Mean Dice per modality over every patient of every fold on ``side``."""
    values: dict[str, list[float]] = {}
    for record in run.records.values():
        for modality, sides in record["extra"].get("dice", {}).items():
            values.setdefault(modality, []).extend(sides[side].values())
    return {m: float(np.mean(v)) for m, v in values.items()}


def fold_curves(run: Aggregate, fold: int = 0, key: str = "curves") -> dict[str, dict]:
    """The training curves a fold recorded (``"curves"``: per modality; ``"direct_cnn_curves"``)."""
    record = run.records.get(fold)
    if record is None:
        raise ParameterError(f"{run.run_dir}: no fold {fold}")
    value = record["extra"].get(key)
    if value is None:
        raise DataError(run.run_dir / f"fold-{fold}", f"records no {key!r}")
    return value if key == "curves" else {"Direct CNN": value}


def fit_summary(run: Aggregate) -> pd.DataFrame:
    """Per network: last training loss, lowest validation loss, best epoch and training Dice, as a min-max over folds."""
    rows = {}
    for fold, record in sorted(run.records.items()):
        for modality, c in record["extra"].get("curves", {}).items():
            best = record["extra"]["best_epoch"][modality]
            entry = rows.setdefault(modality, {"first train loss": [], "last train loss": [], "best epoch": [],
                                               "train Dice (soft, last epoch)": []})
            entry["first train loss"].append(c["train_loss"][0])
            entry["last train loss"].append(c["train_loss"][-1])
            entry["best epoch"].append(best)
            entry["train Dice (soft, last epoch)"].append(c["train_dice"][-1])
    return pd.DataFrame({m: {k: f"{min(v):.3g}-{max(v):.3g}" if isinstance(v[0], float) else f"{min(v)}-{max(v)}"
                             for k, v in entry.items()} for m, entry in rows.items()}).T


def ablation_rows(run: Aggregate, task: str) -> dict[str, dict[str, MethodResult]]:
    """Per variant (``m3``, ``deep``, ``mask``, ``multiscale``): its rows by the paper's row names."""
    return {v: task_rows(run, task, variant=v, ceiling=False) for v in ("m3", "deep", "mask", "multiscale")}


def ablation_auc(run: Aggregate, task: str) -> pd.DataFrame:
    """Mean AUC over folds, rows = the paper's rows, columns = the variants (M3 and the three ablations)."""
    return pd.DataFrame({v: {row: mean_metric(r) for row, r in rows.items()}
                         for v, rows in ablation_rows(run, task).items()})


def ablation_per_fold(run: Aggregate, task: str, metric: str = "auc") -> dict[str, pd.DataFrame]:
    """Per variant: folds x rows of ``metric`` (the input of the corrected t-test of claim 3)."""
    return {v: pd.DataFrame({row: r.per_fold[metric] for row, r in rows.items()})
            for v, rows in ablation_rows(run, task).items()}


def development_runs(results_dir: str | os.PathLike | None = None) -> dict[str, Aggregate]:
    """The committed development runs, by setting (``lr1e-3-flip``...)."""
    root = results_root(results_dir) / DEVELOPMENT
    return {p.name: read_run(p) for p in sorted(root.iterdir()) if (p / "provenance.json").is_file()} \
        if root.is_dir() else {}


def development_table(runs: Mapping[str, Aggregate]) -> pd.DataFrame:
    """Per setting: lr, augmentation, training and validation Dice at the chosen epoch, test Dice and M3's AUC.

    The development draw's fold 0 (seed 1) only: the settings were compared here,
    never on a reference run's folds.
    """
    rows = {}
    for setting, r in runs.items():
        record = r.records[min(r.records)]
        extra = record["extra"]
        best = extra["best_epoch"]
        rows[setting] = {
            "lr": r.params.get("lr"), "augment": r.params.get("augment"), "epochs": extra["epochs"],
            "train Dice (hard)": round(np.mean([np.mean(list(d["train"].values())) for d in extra["dice"].values()]), 3),
            "validation Dice (best epoch)": round(np.mean([extra["curves"][m]["val_dice"][best[m] - 1]
                                                           for m in extra["curves"]]), 3),
            "test Dice": round(np.mean([np.mean(list(d["test"].values())) for d in extra["dice"].values()]), 3),
            "M3 multimodal AUC (dev fold)": round(extra["methods"][method_name("m3", "svm", MULTIMODAL)]["metrics"]["auc"], 3),
            "ceiling AUC (dev fold)": round(extra["methods"][CEILING]["metrics"]["auc"], 3)
            if CEILING in extra["methods"] else np.nan,
        }
    frame = pd.DataFrame(rows).T
    frame.index.name = "setting"
    return frame


#: A radiomics run's groups by the paper's row names (Table 3's layout).
RADIOMICS_GROUPS = {"t1ce": "T1ce", "t2": "T2", "flair": "FLAIR", MULTIMODAL: "Multimodal"}
#: A radiomics run's heads on the multimodal features by Table 7's row names.
RADIOMICS_HEADS = {"svm": "Ours", "rf": "Ours-RF", "gbm": "Ours-GBM", "mlp": "Ours-MLP"}


def radiomics_methods(run: Aggregate) -> dict[str, str]:
    """``{row: method}``: the SVM per modality and multimodal (Table 3's rows), then the other heads (Table 7's)."""
    rows = {label: f"radiomics/svm/{g}" for g, label in RADIOMICS_GROUPS.items() if f"radiomics/svm/{g}" in run.methods}
    rows |= {label: f"radiomics/{h}/{MULTIMODAL}" for h, label in RADIOMICS_HEADS.items()
             if h != "svm" and f"radiomics/{h}/{MULTIMODAL}" in run.methods}
    return rows


def radiomics_rows(run: Aggregate) -> dict[str, MethodResult]:
    """A radiomics run's methods by the paper's row names (:func:`radiomics_methods`)."""
    return {row: run.methods[m] for row, m in radiomics_methods(run).items()}


def same_patients(runs: Sequence[Aggregate]) -> None:
    """Raise :class:`~mmlib.errors.DataError` unless every run tested the same patients in each fold."""
    check_same_test_cases(list(runs))

