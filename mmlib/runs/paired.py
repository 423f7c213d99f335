"""Two sweeps that differ in one parameter, compared fold by fold.

The guidance paper's Tables V and VI set RMC beside DA_RMC (RMC + dual
attention) on the same T1ce data and folds. This book gets the two from two
sweeps of the same chapter (``model="rmc"`` and ``model="da_rmc"``); a paired,
per-fold difference between them is only meaningful when everything else is
the same. :func:`check_paired_runs` checks that (parameters, folds, test cases
and labels), and :func:`paired_differences` gives ``other - base`` per fold and
method. Hand-written: no library pairs two exported fold sweeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import pandas as pd

from mmlib.errors import DataError, ParameterError
from mmlib.runs.aggregate import Aggregate
from mmlib.runs.provenance import PARAMS


def sweep_params(run: Aggregate) -> dict:
    """The chapter parameters the sweep in ``run.run_dir`` was given (its ``params.json``)."""
    path = run.run_dir / PARAMS
    if not path.is_file():
        raise DataError(path, "missing: the sweep's parameters are needed to check that two runs are comparable")
    try:
        return dict(json.loads(path.read_text())["params"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(path, f"not a sweep parameter file with a 'params' object ({exc})") from None


def check_paired_runs(base: Aggregate, other: Aggregate, differ_in: Iterable[str] = ("model",)) -> None:
    """Raise unless ``base`` and ``other`` differ only in the parameters ``differ_in``.

    Checks that the two sweeps were given the same parameters apart from
    ``differ_in``, finished the same folds, and tested each fold on the same
    cases with the same labels.

    Raises
    ------
    ParameterError
        When a parameter outside ``differ_in`` differs, naming each one and both values.
    DataError
        When the folds, a fold's test cases or their labels differ, naming the run folder.
    """
    skip = set(differ_in)
    a, b = sweep_params(base), sweep_params(other)
    changed = {k: (a.get(k, "<default>"), b.get(k, "<default>")) for k in sorted((set(a) | set(b)) - skip)
               if a.get(k, "<default>") != b.get(k, "<default>")}
    if changed:
        listed = ", ".join(f"{k}: {x!r} vs {y!r}" for k, (x, y) in changed.items())
        raise ParameterError(f"{base.run_dir} and {other.run_dir} differ in more than {sorted(skip)}: {listed}")
    check_same_test_cases([base, other])


def check_same_test_cases(runs: Sequence[Aggregate]) -> None:
    """Raise :class:`DataError` unless every run finished the same folds with the same test cases and labels."""
    if not runs:
        raise ParameterError("no run to compare")
    reference = runs[0].test_cases()
    for run in runs[1:]:
        cases = run.test_cases()
        if sorted(cases) != sorted(reference):
            raise DataError(run.run_dir, f"finished folds {sorted(cases)} differ from {sorted(reference)} "
                                         f"of {runs[0].run_dir}")
        for fold in reference:
            if cases[fold] != reference[fold]:
                raise DataError(run.run_dir / f"fold-{fold}",
                                f"test cases or labels differ from {runs[0].run_dir / f'fold-{fold}'}")


def paired_differences(base: Aggregate, other: Aggregate, metric: str = "auc") -> pd.DataFrame:
    """``other - base`` of ``metric`` per fold (rows) and method (columns) present in both sweeps.

    Methods are the per-method results of :attr:`Aggregate.methods` (e.g. one
    per MR sequence), in ``base``'s order. Call :func:`check_paired_runs` first:
    this function only lines up the fold numbers.
    """
    methods = [m for m in base.methods if m in other.methods]
    if not methods:
        raise ParameterError(f"{base.run_dir} and {other.run_dir} share no method")
    missing = [m for m in methods if metric not in base.methods[m].per_fold or metric not in other.methods[m].per_fold]
    if missing:
        raise ParameterError(f"metric {metric!r} is not recorded for methods {missing}")
    frame = pd.DataFrame({m: other.methods[m].per_fold[metric] - base.methods[m].per_fold[metric] for m in methods})
    frame.index.name = "fold"
    return frame
