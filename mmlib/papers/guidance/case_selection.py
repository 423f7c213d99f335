"""Which test case Figure 5 of the guidance paper shows, chosen from committed predictions.

Fig. 5 (Sec. IV-G) shows "an MRI case ... that the RMC model predicts wrongly
while our model predicts correctly", an HGG case that all four uni-modal RMCs
misclassify. :func:`figure5_case` applies that rule to two exported runs (the
uni-modal RMCs and the guidance model) scored on the same folds, and falls back
to the HGG case the guidance model gets right that the most RMCs miss when no
case meets it. Predictions are read from each fold's ``metrics.json``
(``predictions`` and ``extra["methods"]``, as the chapters record them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from mmlib.errors import DataError, ParameterError
from mmlib.runs.aggregate import read_run


def fold_scores(run_dir: str | os.PathLike, fold: int, methods: Sequence[str]) -> pd.DataFrame:
    """One fold's test HGG probabilities of ``methods`` (columns) by case, plus the label column ``HGG``."""
    run = read_run(run_dir)
    path = Path(run_dir) / f"fold-{fold}"
    if fold not in run.records:
        raise DataError(path, "not a finished fold of the run: is the run exported?")
    record = run.records[fold]
    recorded = record.get("extra", {}).get("methods", {})
    missing = [m for m in methods if m not in recorded]
    if missing:
        raise DataError(path, f"records no method {missing} (it has {sorted(recorded)})")
    pred = record["predictions"]
    frame = pd.DataFrame({m: recorded[m]["y_score"] for m in methods}, index=pd.Index(pred["case_id"], name="case"))
    frame["HGG"] = pred["y_true"]
    return frame


def paired_scores(unimodal_run: str | os.PathLike, guidance_run: str | os.PathLike, fold: int,
                  modalities: Sequence[str], subset: str) -> pd.DataFrame:
    """Both runs' probabilities for one fold: ``RMC <modality>`` columns, ``guidance``, ``HGG``,
    ``RMC wrong`` (how many RMCs misclassify at 0.5) and ``guidance right``.

    Raises :class:`DataError` when the two runs' test cases or labels differ.
    """
    rmc = fold_scores(unimodal_run, fold, modalities)
    guide = fold_scores(guidance_run, fold, [subset]).rename(columns={subset: "guidance"})
    if sorted(rmc.index) != sorted(guide.index) or not (rmc["HGG"] == guide.loc[rmc.index, "HGG"]).all():
        raise DataError(guidance_run, f"fold {fold}: test cases or labels differ from {unimodal_run}")
    frame = rmc.drop(columns="HGG").add_prefix("RMC ").join(guide)
    truth = frame["HGG"] == 1
    frame["RMC wrong"] = sum(((frame[f"RMC {m}"] >= 0.5) != truth).astype(int) for m in modalities)
    frame["guidance right"] = (frame["guidance"] >= 0.5) == truth
    return frame


def figure5_case(unimodal_run: str | os.PathLike, guidance_run: str | os.PathLike, modalities: Sequence[str],
                 subset: str, folds: Sequence[int] = (0, 1, 2), case_id: str | None = None):
    """``(fold, frame, case_id, n_rmc_wrong)`` of the case Figure 5 shows.

    Among HGG test cases the guidance model classifies correctly, the one the
    most RMCs misclassify (ties: the higher guidance probability), searching
    ``folds`` in order and stopping at the first case every RMC misses (the
    paper's rule). With ``case_id`` (and one fold) that case is taken as given.
    """
    if case_id is not None and len(folds) != 1:
        raise ParameterError("case_id needs exactly one fold")
    best = None
    for fold in folds:
        frame = paired_scores(unimodal_run, guidance_run, fold, modalities, subset)
        if case_id is not None:
            if case_id not in frame.index:
                raise ParameterError(f"case {case_id!r} is not a test case of fold {fold}")
            return fold, frame, case_id, int(frame.loc[case_id, "RMC wrong"])
        candidates = frame[(frame["HGG"] == 1) & frame["guidance right"]]
        if candidates.empty:
            continue
        top = candidates.sort_values(["RMC wrong", "guidance"], ascending=False).iloc[0]
        if best is None or int(top["RMC wrong"]) > best[3]:
            best = (fold, frame, top.name, int(top["RMC wrong"]))
        if best[3] == len(modalities):
            break
    if best is None:
        raise DataError(guidance_run, f"folds {list(folds)}: no HGG test case is classified correctly by the guidance model")
    return best
