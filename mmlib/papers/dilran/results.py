"""The committed DILRAN runs beside the paper's Tables 1 and 2 (``book/dilran/tables-1-2.md``).

Every run folder under ``results/dilran/`` is read with :func:`mmlib.runs.aggregate.read_run`
(:func:`read_runs`); a run is named by its folder:

* ``<split>``: DILRAN trained on ``split`` ("paper" or "series"), every Table 1 rule scored;
* ``msrpan-<split>``, ``msdra-<split>``: a learned baseline of Table 2, trained the same way;
* ``untrained-<split>``: the Table 2 rows that need no training (:mod:`mmlib.papers.dilran.scoring`);
* ``<split>-no-perceptual``: DILRAN trained like ``<split>`` without the perceptual term
  (lambda_perceptual = 0), the ablation of the random VGG16-BN stand-in (:func:`perceptual_ablation`).

Each row of this book's tables is the mean and sample standard deviation of a metric
over the test pairs of one method (:meth:`mmlib.runs.aggregate.MethodResult.case_summary`),
the paper's columns read with one of :data:`mmlib.papers.dilran.paper.CONVENTIONS`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from mmlib.config import REPO_ROOT
from mmlib.errors import DataError, ParameterError
from mmlib.eval.tables import compare_frame, measured_table
from mmlib.papers.dilran.paper import CONVENTIONS, METRIC_VARIANTS, PAPER, RULE_ROWS, TABLE_1, TABLE_2
from mmlib.runs.aggregate import Aggregate, MethodResult, read_run
from mmlib.runs.provenance import describe_provenance
from mmlib.runs.runner import fold_is_done
from mmlib.train.checkpoint import load_checkpoint
from mmlib.viz.tables import show_comparison

#: The committed runs.
RESULTS_DIR = REPO_ROOT / "results" / "dilran"
#: The metrics the paper's MI, FSIM and EN columns could be (:func:`method_ranges`).
AMBIGUOUS_METRICS = ["mi_mean", "mi_qu", "fsim", "fsim_zhang", "fsim_unit", "en_256", "en_saved_jpeg", "en_float_unique"]
#: The readings of the paper's MI column (:func:`mi_column`): the authors' script computes the first
#: (``results/dilran/mi-check/``); the second is its in-memory cousin; the last two are true MIs.
MI_READINGS = {
    "en_saved_jpeg": "8-bit entropy of the saved JPEG (bits): the paper's MI",
    "en_256": "8-bit entropy, clipped in memory (bits)",
    "mi_mean": "true MI, mean of (F,CT) and (F,MR) (nats)",
    "mi_qu": "true MI, Qu: sum of the two (nats)",
}


def read_runs(results_dir: str | os.PathLike | None = None) -> dict[str, Aggregate]:
    """``{folder name: run}`` for every folder of ``results_dir`` (default :data:`RESULTS_DIR`) with a
    finished fold, sorted by name."""
    root = Path(results_dir) if results_dir is not None else RESULTS_DIR
    if not root.is_dir():
        raise DataError(root, "no such results folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and any(fold_is_done(d) for d in p.glob("fold-*")))
    return {folder.name: read_run(folder) for folder in folders}


def columns_of(conventions: str) -> dict[str, str]:
    """The ``{paper column: metric}`` map of ``conventions`` ("authors" or "standard")."""
    if conventions not in CONVENTIONS:
        raise ParameterError(f"conventions={conventions!r}: choose one of {sorted(CONVENTIONS)}")
    return CONVENTIONS[conventions]


def own_method(run: Aggregate) -> MethodResult:
    """The scores of a trained run's own fusion rule (SFNN-max for DILRAN, FER for MSRPAN)."""
    rule = run.records[0].get("extra", {}).get("fusion_rule")
    if rule not in run.methods:
        raise DataError(run.run_dir, f"records no scores of its own fusion rule {rule!r}")
    return run.methods[rule]


def measured(methods: Mapping[str, MethodResult], columns: Mapping[str, str]) -> pd.DataFrame:
    """One row per method, MultiIndex columns ``(paper column, "mean" | "std")`` over the test pairs
    (the layout :func:`mmlib.eval.tables.compare_frame` reads)."""
    summaries = {}
    for row, method in methods.items():
        summary = method.case_summary()
        missing = sorted(set(columns.values()) - set(summary.index))
        if missing:
            raise DataError(row, f"the scores lack metric(s) {missing}")
        summaries[row] = summary.loc[list(columns.values())].set_axis(list(columns), axis=0)
    return measured_table(summaries)


def table_1_methods(runs: Mapping[str, Aggregate], split: str) -> dict[str, MethodResult]:
    """``{Table 1 row: scores}`` of every rule scored on the DILRAN run of ``split`` (empty without it)."""
    if split not in runs:
        return {}
    return {row: runs[split].methods[rule] for rule, row in RULE_ROWS.items() if rule in runs[split].methods}


def not_committed(name: str) -> None:
    """Say that the run folder ``name`` is not committed, and which command makes it."""
    model, _, split = name.rpartition("-")
    if model == "untrained":
        command = f"python -m mmlib.papers.dilran.scoring --split {split} --out results/dilran/{name}"
    else:
        command = (f"MODEL={model} " if model else "") + f"bash scripts/reference-dilran.sh {split}"
    print(f"results/dilran/{name}/ is not committed: run `{command}`")


def table_1(runs: Mapping[str, Aggregate], split: str, conventions: str = "authors") -> pd.DataFrame | None:
    """Table 1 beside this book's scores of every rule on the DILRAN run of ``split``; None (saying
    which command makes the run) without that run."""
    methods = table_1_methods(runs, split)
    if not methods:
        not_committed(split)
        return None
    return compare_frame(TABLE_1, measured(methods, columns_of(conventions)))


def table_2_methods(runs: Mapping[str, Aggregate], split: str) -> dict[str, MethodResult]:
    """``{Table 2 row: scores}`` for ``split``: the untrained rows, the trained baselines and DILRAN
    ("Ours"), each where its run is committed, then the two anchors the paper does not report."""
    rows: dict[str, MethodResult] = {}
    untrained = runs.get(f"untrained-{split}")
    if untrained is not None:
        rows["Zero-shot [14]"] = untrained.methods["zero-learning"]
    for row, folder in (("MSDRA [10]", f"msdra-{split}"), ("MSPRAN [9]", f"msrpan-{split}"), ("Ours", split)):
        if folder in runs:
            rows[row] = own_method(runs[folder])
    if untrained is not None:
        rows["pixel average"] = untrained.methods["average"]
        rows["Laplacian pyramid (4 levels)"] = untrained.methods["laplacian"]
    return rows


def table_2(runs: Mapping[str, Aggregate], split: str, conventions: str = "authors") -> pd.DataFrame | None:
    """Table 2 beside this book's rows for ``split``; None (saying which commands make the runs)
    when no run of ``split`` is committed."""
    methods = table_2_methods(runs, split)
    if not methods:
        for name in (f"untrained-{split}", split):
            not_committed(name)
        return None
    return compare_frame(TABLE_2, measured(methods, columns_of(conventions)))


def show_beside_paper(number: int, runs: Mapping[str, Aggregate], split: str, conventions: str = "authors") -> None:
    """Display Table ``number`` (1 or 2) of the paper beside this book's rows for ``split``, with its caption.

    Shows nothing more than :func:`table_1` / :func:`table_2` say when no run of
    ``split`` is committed.
    """
    if number not in (1, 2):
        raise ParameterError(f"number={number!r}: the paper's comparison tables are 1 and 2")
    table = (table_1 if number == 1 else table_2)(runs, split, conventions)
    if table is not None:
        show_comparison(table, f"Table {number} of {PAPER} beside this book, {split} split, {conventions} metric "
                               "conventions (mean ± std over the 20 test pairs; difference = this book − paper).")


def means(methods: Mapping[str, MethodResult], conventions: str = "authors") -> pd.DataFrame:
    """The mean of each paper column per method (rows) over the test pairs."""
    return measured(methods, columns_of(conventions)).xs("mean", axis=1, level=1)


def ours_table(runs: Mapping[str, Aggregate], conventions: str = "authors") -> pd.DataFrame:
    """The paper's "Ours" row of Table 2, this book's DILRAN on each committed split, and the differences."""
    columns = list(columns_of(conventions))
    rows = {"paper (Table 2, 'Ours')": TABLE_2.frame().loc["Ours"].xs("mean", level=1)}
    splits = [split for split in ("paper", "series") if split in runs]
    for split in splits:
        rows[f"this book, {split} split"] = means({"Ours": own_method(runs[split])}, conventions).loc["Ours"]
    table = pd.DataFrame(rows).T[columns]
    for split in splits:
        table.loc[f"difference, {split} split"] = table.loc[f"this book, {split} split"] - table.iloc[0]
    return table


def best_rows(runs: Mapping[str, Aggregate], split: str = "paper", conventions: str = "authors") -> pd.DataFrame:
    """Does Table 2's claim hold? Per column: the paper's best row, this book's best row, the rank of
    "Ours" and its margin over the best other row (higher is better for every metric, as in the paper)."""
    measured_means = means(table_2_methods(runs, split), conventions)
    if "Ours" not in measured_means.index:
        raise DataError(split, f"no committed DILRAN run of split {split!r}: nothing to rank")
    return pd.DataFrame({
        "paper: best row": TABLE_2.frame().xs("mean", axis=1, level=1).idxmax(),
        "this book: best row": measured_means.idxmax(),
        "this book: rank of Ours": measured_means.rank(ascending=False).loc["Ours"].astype(int).astype(str)
        + f" of {len(measured_means)}",
        "Ours minus best other row": (measured_means.loc["Ours"] - measured_means.drop(index="Ours").max()).round(3),
    })


def row_notes(runs: Mapping[str, Aggregate], split: str = "paper") -> pd.DataFrame:
    """What each row of this book's Table 2 is, and whether its run is committed for ``split``."""
    untrained = runs.get(f"untrained-{split}")
    zero_weights = untrained.records[0]["extra"].get("zero_learning_weights", "—") if untrained else "—"
    notes = {
        "Zero-shot [14]": f"Lahoud & Süsstrunk's zero-learning fusion, relu1_1 stage; VGG19 weights: {zero_weights}",
        "MSDRA [10]": "trained like DILRAN when results/dilran/msdra-<split>/ exists; not scored here: about 10x "
                      "DILRAN's FLOPs (233 vs 23 GFLOP per 256 x 256 forward), days on this CPU, and on the lent "
                      "H200 it reached 32-34 of 100 epochs (sharing the GPU with seven runs) before time ran out",
        "MSPRAN [9]": "MSRPAN (the paper spells it MSPRAN) trained exactly like DILRAN (same schedule, loss, seed), "
                      "fused with FER, when results/dilran/msrpan-<split>/ exists",
        "Ours": "DILRAN, SFNN-max, the checkpoint chosen on the validation loss",
        "pixel average": "(CT + MR) / 2: a sanity anchor the paper does not report",
        "Laplacian pyramid (4 levels)": "max-abs detail, averaged base: a classic anchor the paper does not report",
    }
    folders = {"Zero-shot [14]": f"untrained-{split}", "MSDRA [10]": f"msdra-{split}",
               "MSPRAN [9]": f"msrpan-{split}", "Ours": split, "pixel average": f"untrained-{split}",
               "Laplacian pyramid (4 levels)": f"untrained-{split}"}
    return pd.DataFrame({
        f"committed ({split} split)": {row: "yes" if folders[row] in runs else "no" for row in notes},
        "what it is": notes,
    })


def provenance_table(runs: Mapping[str, Aggregate]) -> pd.DataFrame:
    """One row per run: what was trained (model, epochs, input, perceptual net) and its provenance
    record (:func:`mmlib.runs.provenance.describe_provenance`: command, commit, wall time, device, data)."""
    rows = {}
    for name, run in runs.items():
        params, extra = run.params, run.records[0].get("extra", {})
        trained = "max_epochs" in params
        shown = describe_provenance(run.provenance)
        rows[name] = {
            "model": params.get("model_name", "no training"),
            "epochs": params["max_epochs"] if trained else "—",
            "training input": "—" if not trained else
            ("whole images" if params.get("train_crop") is None else f"{params['train_crop']} px crops"),
            "perceptual net": extra.get("perceptual_weights", "—"),
            **{key: shown[key] for key in ("wall time", "device", "git commit", "data", "command")},
        }
    return pd.DataFrame(rows).T


def metric_variants(run: Aggregate) -> pd.DataFrame:
    """Every metric variant of the suite (:data:`mmlib.papers.dilran.paper.METRIC_VARIANTS`, in that
    order) for a trained run's own rule: mean and std over the test pairs beside the convention it
    follows; NaN, with ``recorded`` False, for a variant the run predates."""
    summary = own_method(run).case_summary()[["mean", "std"]].reindex(list(METRIC_VARIANTS))
    return summary.assign(recorded=summary["mean"].notna(), convention=pd.Series(METRIC_VARIANTS))


def method_ranges(runs: Mapping[str, Aggregate], split: str = "paper", metrics=AMBIGUOUS_METRICS) -> pd.DataFrame | None:
    """Lowest and highest method mean of each of ``metrics`` over every method scored on ``split``
    (every rule of the DILRAN run, the trained baselines, the untrained rows); None without runs."""
    folders = (split, f"msrpan-{split}", f"msdra-{split}", f"untrained-{split}")
    method_means = [method.case_summary()["mean"] for folder in folders if folder in runs
                    for method in runs[folder].methods.values()]
    if not method_means:
        return None
    return (pd.DataFrame(method_means)[list(metrics)].agg(["min", "max"])
            .rename(index={"min": "lowest method mean", "max": "highest method mean"}))


def mi_column(runs: Mapping[str, Aggregate], split: str = "paper") -> pd.DataFrame | None:
    """The paper's Table 2 MI column beside this book's readings of it (:data:`MI_READINGS`), one row per
    Table 2 row of ``split`` (:func:`table_2_methods`): the mean over the test pairs; NaN where the paper
    has no such row or a run predates a metric (the committed runs predate ``en_saved_jpeg``). None
    without runs of ``split``."""
    methods = table_2_methods(runs, split)
    if not methods:
        return None
    paper_mi = TABLE_2.frame().xs("mean", axis=1, level=1)["MI"]
    rows = {}
    for row, method in methods.items():
        means = method.case_summary()["mean"]
        rows[row] = {"paper: MI (Table 2)": paper_mi.get(row, float("nan")),
                     **{label: means.get(metric, float("nan")) for metric, label in MI_READINGS.items()}}
    return pd.DataFrame(rows).T.astype(float)


def training_curves(runs: Mapping[str, Aggregate]) -> pd.DataFrame:
    """Every trained run's Eq. 2 loss per epoch: one row per (run, epoch) with the training loss (mean
    over batches), the validation loss and their terms, as the training chapter recorded them."""
    rows = [{"run": name, "fold": 0, **epoch} for name, run in runs.items()
            for epoch in run.records[0].get("extra", {}).get("history", [])]
    return pd.DataFrame(rows)


def fit_summary(runs: Mapping[str, Aggregate]) -> pd.DataFrame:
    """Per trained run: epochs trained, the epoch chosen on the validation loss, and the Eq. 2 loss on the
    training and validation images at the first, chosen and last epochs (does the autoencoder fit?)."""
    rows = {}
    for name, run in runs.items():
        extra = run.records[0].get("extra", {})
        history = extra.get("history")
        if not history:
            continue
        best = extra["best_epoch"]
        at = {"first": history[0], "chosen": history[best - 1], "last": history[-1]}
        rows[name] = {"epochs": len(history), "chosen epoch": best,
                      **{f"training loss, {when}": r["train_loss"] for when, r in at.items()},
                      **{f"validation loss, {when}": r["val_loss"] for when, r in at.items()}}
    return pd.DataFrame(rows).T.astype({"epochs": int, "chosen epoch": int})


def paired_difference(a: MethodResult, b: MethodResult, metrics: Mapping[str, str], *,
                      names: tuple[str, str] = ("with", "without"), n_resamples: int = 10000,
                      seed: int = 0) -> pd.DataFrame:
    """Per column of ``metrics`` (``{label: metric}``): the means of ``a`` and ``b`` over the same test
    pairs (columns ``names``), the mean paired difference ``a - b``, its 95 % bootstrap interval over
    the pairs (:func:`scipy.stats.bootstrap`, BCa), the number of pairs where ``a`` is higher, and the
    Wilcoxon signed-rank p-value (:func:`scipy.stats.wilcoxon`). Raises :class:`DataError` when the two
    were scored on different pairs."""
    if not a.per_case.index.equals(b.per_case.index):
        raise DataError("paired difference", "the two methods were scored on different test pairs")
    rows = {}
    for label, metric in metrics.items():
        if metric not in a.per_case or metric not in b.per_case:
            raise DataError("paired difference", f"metric {metric!r} is missing from one of the two runs")
        x, y = a.per_case[metric].to_numpy(float), b.per_case[metric].to_numpy(float)
        diff = x - y
        if np.ptp(diff) == 0:  # one value repeated: the bootstrap has nothing to resample
            low = high = float(diff[0])
        else:
            ci = stats.bootstrap((diff,), np.mean, n_resamples=n_resamples, confidence_level=0.95, method="BCa",
                                 rng=np.random.default_rng(seed)).confidence_interval
            low, high = ci.low, ci.high
        rows[label] = {names[0]: x.mean(), names[1]: y.mean(), "difference": diff.mean(),
                       "95% CI low": low, "95% CI high": high, "pairs higher": f"{int((diff > 0).sum())} of {len(diff)}",
                       "Wilcoxon p": stats.wilcoxon(x, y).pvalue if np.any(diff != 0) else 1.0}
    return pd.DataFrame(rows).T


def perceptual_ablation(runs: Mapping[str, Aggregate], split: str = "paper",
                        conventions: str = "authors") -> pd.DataFrame | None:
    """DILRAN trained with the perceptual term on a fixed random VGG16-BN (lambda_perceptual 0.2, run
    ``<split>``) against the same schedule without it (run ``<split>-no-perceptual``): the paired
    difference per paper column over the split's test pairs (:func:`paired_difference`), both with
    the SFNN-max rule. None when either run is not committed."""
    with_term, without = runs.get(split), runs.get(f"{split}-no-perceptual")
    if with_term is None or without is None:
        return None
    return paired_difference(own_method(with_term), own_method(without), columns_of(conventions))


#: The columns of :func:`versus_pixel_average`: the paper's, plus the true MI and FMI on pixels.
AVERAGE_CHECK = {"PSNR": "psnr", "SSIM (Gaussian)": "ssim_gaussian", "MI column (saved-JPEG entropy)": "en_saved_jpeg",
                 "true MI (mean, nats)": "mi_mean", "FMI on pixels": "fmi_none", "FMI on edges": "fmi_edge",
                 "FSIM": "fsim"}


def versus_pixel_average(runs: Mapping[str, Aggregate], split: str = "paper") -> pd.DataFrame | None:
    """DILRAN (SFNN-max) against the pixel average ``(CT + MR) / 2`` on the same test pairs of ``split``:
    :func:`paired_difference` over :data:`AVERAGE_CHECK`. None without both runs."""
    untrained = runs.get(f"untrained-{split}")
    if split not in runs or untrained is None or "average" not in untrained.methods:
        return None
    return paired_difference(own_method(runs[split]), untrained.methods["average"], AVERAGE_CHECK,
                             names=("DILRAN", "pixel average"))


def load_model(run: Aggregate, model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with the weights of the run's ``best.pt`` (the epoch chosen on validation), in eval mode."""
    load_checkpoint(run.artifact("best.pt"), model=model)
    return model.eval()
