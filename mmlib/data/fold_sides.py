"""One fold of a patient-level stratified k-fold split with a validation part: the sides every fold chapter trains,
selects and tests on.

:func:`fold_sides` draws them (:func:`mmlib.data.splits.make_folds` twice: the test fold over all cases, then the
validation fold over the training patients); :class:`FoldSides` holds them with the cases. The papers' fold
protocols (:mod:`mmlib.papers.guidance.protocol`, :mod:`mmlib.papers.m3.protocol`) add their labels and counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from mmlib.data.glioma_dataset import check_fold_classes
from mmlib.data.splits import make_folds
from mmlib.errors import DataError, ParameterError

#: The three sides of a fold.
SIDES = ("train", "validation", "test")


@dataclass(frozen=True)
class FoldSides:
    """One fold's cases: ``sides`` maps ``"train"``, ``"validation"``, ``"test"`` to case ids, ``by_id`` an id to
    its case dict."""

    fold: int
    by_id: Mapping[str, dict]
    sides: Mapping[str, list[str]]

    def ids(self, side: str) -> list[str]:
        """The case ids of one side, in the split's order; ``"fit"`` is every training-fold patient (train, then
        validation)."""
        if side == "fit":
            return [*self.sides["train"], *self.sides["validation"]]
        if side not in self.sides:
            raise ParameterError(f"side={side!r} must be one of {[*SIDES, 'fit']}")
        return list(self.sides[side])

    def cases(self, side: str) -> list[dict]:
        """The case dicts of one side, in the split's order."""
        return [self.by_id[i] for i in self.ids(side)]


def fold_sides(cases: Sequence[dict], fold: int, n_folds: int, seed: int,
               val_fraction: float) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """``(by_id, sides)`` of fold ``fold`` of a patient-level stratified ``n_folds``-fold split, for :class:`FoldSides`.

    The test side is fold ``fold`` of :func:`mmlib.data.splits.make_folds` over
    all cases (grouped by patient, ``case["group"]``, else the case itself). The
    validation side is the first fold of a ``round(1 / val_fraction)``-fold split
    of the training patients, so it is patient-level and stratified too; the rest
    trains. The same ``seed`` gives the same split.

    Raises
    ------
    ParameterError
        ``val_fraction`` outside (0, 0.5), ``fold`` outside ``range(n_folds)``, or a
        side without both classes (:func:`mmlib.data.glioma_dataset.check_fold_classes`,
        naming the fold and the side).
    DataError
        Two cases with one ``case_id``.
    """
    if not 0 < val_fraction < 0.5:
        raise ParameterError(f"val_fraction={val_fraction} must lie in (0, 0.5)")
    if not isinstance(fold, (int, np.integer)) or not 0 <= fold < n_folds:
        raise ParameterError(f"fold={fold} must lie in 0..{n_folds - 1} (n_folds={n_folds})")
    by_id = {c["case_id"]: c for c in cases}
    if len(by_id) != len(cases):
        raise DataError("cases", "duplicate case ids")

    def folds_of(ids: list[str], k: int) -> list[dict]:
        return make_folds(ids, [by_id[i]["label"] for i in ids], [by_id[i].get("group", i) for i in ids],
                          n_folds=k, seed=seed)

    def labels(side: str) -> list[int]:
        return [int(by_id[i]["label"]) for i in sides[side]]

    outer = folds_of(list(by_id), n_folds)[fold]
    inner = folds_of(outer["train"], round(1 / val_fraction))[0]
    sides = {"train": inner["train"], "validation": inner["test"], "test": outer["test"]}
    check_fold_classes(labels("train"), labels("test"), fold)
    check_fold_classes(labels("train"), labels("validation"), fold)
    return by_id, sides
