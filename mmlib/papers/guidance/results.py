"""The committed reference runs of the glioma part, read once for every results chapter.

Each results chapter (Tables III-VIII, Figure 5, the claims) reads its runs
from ``results/guidance/`` through these functions, so the chapters hold no
reading logic and ``tests/test_guidance_results.py`` checks that every chapter
still reads its committed run. Rows are named as the paper names them
(:mod:`mmlib.papers.guidance.paper`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from mmlib.config import REPO_ROOT
from mmlib.eval.tables import PaperTable, measured_table, paper_beside_book
from mmlib.papers.guidance import paper
from mmlib.runs.aggregate import Aggregate, MethodResult, read_run
from mmlib.runs.paired import check_same_test_cases
from mmlib.runs.provenance import describe_provenance

#: Where the committed runs live.
RESULTS = REPO_ROOT / "results" / "guidance"
#: Recorded method name -> the paper's row name, in the paper's row order (Tables III/IV).
MODALITY_ROWS = {"t1ce": "T1ce", "flair": "Flair", "t1": "T1", "t2": "T2", "ensemble": "Ensemble"}
#: Table VII's modality order (its availability columns): the primary, then the secondaries.
TABLE_VII_ORDER = ("t1ce", "flair", "t1", "t2")
#: Table VIII's rows: (run folder under results/guidance, recorded method).
TABLE_VIII_SOURCES = {"RMC (T1ce)": ("tables-iii-iv", "t1ce"), "Pixel fusion": ("table-viii", "pixel"),
                      "Feature fusion": ("table-viii", "feature"), "Decision fusion": ("table-viii", "decision"),
                      "AGG": ("table-viii", "agg"), "Ours": ("table-vii/t1ce+flair+t2+t1", "t1ce+flair+t2+t1")}
#: The radiomics run's methods, in the order the chapters show them.
RADIOMICS_ORDER = ("t1ce_label1", "t1ce_label4", "flair_label2", "ensemble", "feature fusion", "decision fusion",
                   "mmd-vae")


def results_root(results_dir: str | os.PathLike | None = None) -> Path:
    """``results_dir``, or the repository's ``results/guidance``."""
    return Path(results_dir) if results_dir else RESULTS


def optional_run(folder: str | os.PathLike) -> Aggregate | None:
    """The run in ``folder``, or ``None`` when it has not been committed (no folder)."""
    return read_run(folder) if Path(folder).is_dir() else None


def provenance_table(runs: dict[str, Aggregate]) -> pd.DataFrame:
    """One column per run: where its numbers came from (:func:`mmlib.runs.provenance.describe_provenance`)."""
    return pd.DataFrame({name: describe_provenance(run.provenance) for name, run in runs.items()})


def mean_auc(result: MethodResult | Aggregate) -> float:
    """The mean AUC over folds of a method (or of a run's final model)."""
    return float(result.summary.loc["auc", "mean"])


def modality_rows(run: Aggregate) -> dict[str, MethodResult]:
    """The uni-modal run's methods under the paper's row names (Tables III/IV order)."""
    return {row: run.methods[m] for m, row in MODALITY_ROWS.items() if m in run.methods}


def subset_label(modalities) -> str:
    """A Table VII row name from its modalities, e.g. {"t1ce", "t2", "flair"} -> "T1ce + Flair + T2"."""
    return " + ".join(MODALITY_ROWS[m] for m in TABLE_VII_ORDER if m in modalities)


def n_secondary(label: str) -> int:
    """The number of secondary modalities of a Table VII row name."""
    return len(label.split(" + ")) - 1


def table_vii_runs(root: str | os.PathLike) -> dict[str, Aggregate]:
    """The committed Table VII subsets under ``root`` (one folder per subset), in the paper's row order."""
    root = Path(root)
    found = {subset_label(folder.name.split("+")): read_run(folder)
             for folder in (sorted(root.glob("t1ce*")) if root.is_dir() else []) if (folder / "provenance.json").is_file()}
    return {label: found[label] for label in paper.TABLE_VII_2018.rows if label in found}


def table_vii_methods(runs: dict[str, Aggregate]) -> dict[str, MethodResult]:
    """Each subset's model (recorded under the subset's folder name, its tag)."""
    return {label: run.methods[run.tag] for label, run in runs.items()}


def table_vii_heads(run: Aggregate) -> pd.DataFrame:
    """AUC of every head (rows, named by the modalities it has seen) per fold (columns), with mean and std."""
    heads = pd.DataFrame({fold: {head: value["metrics"]["auc"] for head, value in record["extra"]["heads"].items()}
                          for fold, record in sorted(run.records.items())})
    heads.index.name = "head (modalities seen)"
    return heads.assign(mean=heads.mean(axis=1), std=heads.std(axis=1, ddof=1))


def table_viii_runs(root: str | os.PathLike) -> tuple[dict[str, Aggregate], dict[str, MethodResult]]:
    """``(runs by folder, rows by the paper's row name)`` of this book's Table VIII, whichever are committed.

    Raises :class:`~mmlib.errors.DataError` when two runs tested different
    patients in a fold: their rows would not be comparable.
    """
    root = Path(root)
    runs = {folder: read_run(root / folder) for folder in dict.fromkeys(f for f, _ in TABLE_VIII_SOURCES.values())
            if (root / folder).is_dir()}
    rows = {row: runs[folder].methods[method] for row, (folder, method) in TABLE_VIII_SOURCES.items()
            if folder in runs and method in runs[folder].methods}
    if len(runs) > 1:
        check_same_test_cases(list(runs.values()))
    return runs, rows


def radiomics_rows(run: Aggregate) -> dict[str, MethodResult]:
    """The radiomics run's methods in :data:`RADIOMICS_ORDER`."""
    return {name: run.methods[name] for name in RADIOMICS_ORDER if name in run.methods}


def beside_paper(tables: dict[str, PaperTable], rows: dict[str, MethodResult], book: str) -> pd.DataFrame:
    """The paper's tables (one column each, per metric) beside this book's mean ± std over folds."""
    return paper_beside_book(tables, measured_table({row: r.summary for row, r in rows.items()}), book)


def auc_per_fold(rows: dict[str, MethodResult]) -> pd.DataFrame:
    """AUC per fold (rows) and method (columns)."""
    return pd.DataFrame({name: result.per_fold["auc"] for name, result in rows.items()})


def auc_spread(root: str | os.PathLike) -> pd.DataFrame:
    """Mean AUC, its std over folds and the fold count of every model of every committed run under ``root``."""
    root = Path(root)
    spread = {}
    for folder in ("tables-iii-iv", "tables-v-vi", "table-viii", "table-vii/t1ce+flair+t2+t1", "radiomics"):
        run = optional_run(root / folder)
        for method, result in (run.methods.items() if run is not None else []):
            s = result.summary.loc["auc"]
            spread[(folder, method)] = {"mean AUC": s["mean"], "std over folds": s["std"], "folds": int(s["n_folds"])}
    return pd.DataFrame.from_dict(spread, orient="index").rename_axis(["run", "model"])  # folds stay ints
