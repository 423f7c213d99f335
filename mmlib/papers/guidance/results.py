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

import numpy as np
import pandas as pd

from mmlib.config import REPO_ROOT
from mmlib.data.phantoms.glioma import factor_ceiling
from mmlib.errors import DataError
from mmlib.eval.statistics import Estimate, bootstrap_auc, delong_test
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


def pooled_auc(result: MethodResult, seed: int = 0) -> Estimate:
    """The pooled out-of-fold AUC of one method (all folds' test cases together) with a bootstrap 95% CI."""
    if result.predictions.empty:
        raise DataError("run", "this method recorded no per-case scores, so it has no pooled AUC")
    return bootstrap_auc(result.predictions["y_true"], result.predictions["y_score"], seed=seed)


def aligned_scores(a: MethodResult, b: MethodResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y_true, score_a, score_b)`` of two methods on the same test cases, matched by (fold, case).

    Raises :class:`~mmlib.errors.DataError` when they were not tested on the same cases and labels.
    """
    left = a.predictions.set_index(["fold", "case_id"])
    right = b.predictions.set_index(["fold", "case_id"]).reindex(left.index)
    if right["y_score"].isna().any() or not (left["y_true"] == right["y_true"]).all():
        raise DataError("runs", "the two methods were not tested on the same cases with the same labels")
    return left["y_true"].to_numpy(), left["y_score"].to_numpy(), right["y_score"].to_numpy()


def compare_pooled(a: MethodResult, b: MethodResult) -> Estimate:
    """DeLong's test of ``AUC(b) - AUC(a)`` on the pooled out-of-fold predictions of the same cases."""
    return delong_test(*aligned_scores(a, b))


def reference_names(modalities) -> dict[str, str]:
    """The names the fold chapters give their measured references (``protocol.ceiling_scores``) for a modality set."""
    label = "+".join(modalities)
    return {"generator truth (LR)": f"ceiling: generator truth ({label})",
            "mask intensities (LR)": f"reference: mask intensities ({label})"}


def data_design(run: Aggregate) -> str:
    """What the run's cases were: ``"factors"`` or ``"shared-lesion"`` phantoms, or ``"real data"``."""
    data = run.records[min(run.records)].get("data") or run.provenance.get("data", {})
    if "description" not in data:
        return "real data"
    return "factors" if "design='factors'" in str(data["description"].get("generator", "")) else "shared-lesion"


def ceiling_row(run: Aggregate, modalities, seed: int = 0) -> dict[str, str]:
    """For a modality set: the analytic ceiling of the factor design, and the two measured references' pooled AUCs."""
    design = data_design(run)
    row = {"ceiling (analytic)": f"{factor_ceiling(list(modalities)):.3f}" if design == "factors" else f"— ({design})"}
    for shown, name in reference_names(modalities).items():
        row[shown] = str(pooled_auc(run.methods[name], seed)) if name in run.methods else "—"
    return row


def learning_table(rows: dict[str, tuple[Aggregate, str, tuple]], papers: dict[str, PaperTable],
                   seed: int = 0) -> pd.DataFrame:
    """Per row: the ceiling and references for its modalities, the CNN's pooled AUC [95% CI], the paper's AUCs.

    ``rows`` maps a row name to ``(run, recorded method, modalities)``; ``papers``
    maps a column label to the paper table whose ``auc`` mean goes there (``—``
    for rows the paper does not have).
    """
    table = {}
    for name, (run, method, modalities) in rows.items():
        row = ceiling_row(run, modalities, seed)
        row["this book: CNN (pooled AUC)"] = str(pooled_auc(run.methods[method], seed))
        for label, paper_table in papers.items():
            means = paper_table.frame()[("auc", "mean")]
            row[label] = f"{means[name]:.3f}" if name in means.index else "—"
        table[name] = row
    return pd.DataFrame(table).T.rename_axis("row")


def fit_table(run: Aggregate, min_train_auc: float = 0.9) -> pd.DataFrame:
    """Did every network fit its training set? One row per (network, fold).

    Two readings side by side, because the runs keep the epoch with the lowest
    validation loss (``epoch_choice="val_loss"``), not the last one:

    * the **kept network**: the epoch kept and its training-set AUC, read in
      eval mode (no dropout, no augmentation) by the fold chapter;
    * the **training run**: its training loss at the first and the last epoch
      (measured in train mode, dropout on, averaged over the epoch), against
      the loss of a network that has learnt nothing (ln 2 = 0.693 per
      cross-entropy term, :func:`chance_loss`).

    A network ``fits`` when either shows that it separates its training cases:
    the kept network's training AUC is at least ``min_train_auc``, or the
    training run's last-epoch loss is at most half of chance. The second
    covers the networks whose validation loss is lowest after one to three
    epochs: the kept network is then that early one and its training AUC is
    lower, which is early stopping at work, not an optimisation failure.
    """
    choice = run.params.get("epoch_choice", "last")
    rows = {}
    for fold, record in sorted(run.records.items()):
        for name, fitted in record["extra"].get("fit", {}).items():
            history = pd.DataFrame(fitted.get("history", []))
            row = {}
            if not history.empty:
                kept = history["val_loss"].idxmin() if choice == "val_loss" and "val_loss" in history else len(history) - 1
                last, chance = float(history["train_loss"].iloc[-1]), chance_loss(record, name)
                row = {"epochs": len(history), "epoch kept": int(history["epoch"][kept]),
                       "training loss, epoch 1": round(float(history["train_loss"].iloc[0]), 3),
                       "training loss, last epoch": round(last, 3), "chance loss": round(chance, 3),
                       "fits": last <= chance / 2}
            if "train_auc" in fitted:
                row["training AUC, kept epoch"] = round(fitted["train_auc"], 3)
                row["fits"] = row.get("fits", False) or fitted["train_auc"] >= min_train_auc
            if row:
                rows[(name, fold)] = row
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis(["network", "fold"]).sort_index()
    return table[[c for c in table.columns if c != "fits"] + ["fits"]] if "fits" in table else table


def chance_loss(record: dict, network: str) -> float:
    """The training loss of a network that outputs the class prior: ln 2 per cross-entropy term.

    The class-weighted cross-entropy of a constant 0.5 is ln 2 whatever the
    weights. A guidance model's stage-2 loss (Eq. 6) sums one term for the
    primary head and one per secondary modality; every other network here
    (RMC, DA_RMC, stage 1, the fusion baselines) trains on one term.
    """
    extra = record["extra"]
    terms = 1 + len(extra["secondaries"]) if "secondaries" in extra and network != "stage 1" else 1
    return terms * float(np.log(2))


def training_curves(run: Aggregate) -> pd.DataFrame:
    """Every network's curves: one row per (network, fold, epoch) with training loss, validation loss and AUC."""
    rows = [{"network": name, "fold": fold, **epoch}
            for fold, record in sorted(run.records.items())
            for name, fitted in record["extra"].get("fit", {}).items() for epoch in fitted.get("history", [])]
    return pd.DataFrame(rows)


def development_runs(root: str | os.PathLike) -> dict[str, Aggregate]:
    """The committed development-draw runs (``scripts/development-guidance.sh``), one per training setting."""
    folder = Path(root) / "development"
    return {run.name: read_run(run) for run in sorted(folder.iterdir()) if (run / "provenance.json").is_file()} \
        if folder.is_dir() else {}


def agg_development_table(root: str | os.PathLike, seed: int = 0) -> pd.DataFrame:
    """AGG's training lengths on the development draw (``scripts/development-guidance-agg.sh``).

    One row per committed run under ``development-agg/``: the schedule, the
    epoch kept, whether the kept network fits (:func:`fit_table`) with its
    training-set AUC, and the held-out AUC of the development fold [95% CI].
    Sorted by schedule length; empty when no run is committed.
    """
    folder = Path(root) / "development-agg"
    rows = {}
    for path in sorted(folder.glob("agg-e*")) if folder.is_dir() else []:
        if not (path / "provenance.json").is_file():
            continue
        run = read_run(path)
        fit = fit_table(run).loc["agg"]
        rows[path.name] = {"epochs": int(run.params["max_epochs"]), "epoch kept": int(fit["epoch kept"].iloc[0]),
                           "training AUC, kept epoch": float(fit["training AUC, kept epoch"].iloc[0]),
                           "fits": bool(fit["fits"].all()), "held-out AUC": mean_auc(run.methods["agg"]),
                           "held-out AUC [95% CI]": str(pooled_auc(run.methods["agg"], seed))}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("run")
    return table.sort_values("epochs") if not table.empty else table


def choose_agg_epochs(table: pd.DataFrame) -> int | None:
    """The rule fixed before the development runs: of the lengths that fit, the best held-out AUC.

    ``table`` is :func:`agg_development_table`; ties go to the shorter schedule.
    ``None`` when no length fits (the shared schedule then stands, and the
    chapter says AGG does not fit).
    """
    fitting = table[table["fits"]] if not table.empty else table
    if fitting.empty:
        return None
    best = fitting["held-out AUC"].max()
    return int(fitting[fitting["held-out AUC"] == best]["epochs"].min())


def development_table(runs: dict[str, Aggregate], modality: str = "t1ce", seed: int = 0) -> pd.DataFrame:
    """Per setting on the development draw: its settings, training-set AUC, held-out AUC and the references."""
    rows = {}
    for name, run in runs.items():
        p = run.params
        box = p.get("spatial_size")
        rows[name] = {"lr": p.get("lr"), "augment": p.get("augment"),
                      "input": f"{'x'.join(map(str, box))} lesion box" if p.get("fit") == "lesion" else "whole grid",
                      "epoch kept": p.get("epoch_choice"),
                      "training AUC": round(min(r["extra"]["fit"][modality]["train_auc"] for r in run.records.values()), 3),
                      "held-out AUC [95% CI]": str(pooled_auc(run.methods[modality], seed)),
                      **{k: v for k, v in ceiling_row(run, (modality,), seed).items()}}
    return pd.DataFrame(rows).T.rename_axis("setting")
