"""The fold runner: execute a chapter once per fold with papermill, resume, aggregate.

In a chapter: :func:`record_fold_result`. From Python: :func:`run_folds` and
:func:`aggregate`. From the shell: ``python -m mmlib.runs CHAPTER --folds 0-2
-p key=value`` (see :mod:`mmlib.runs.cli`).
"""

from mmlib.runs.aggregate import Aggregate, aggregate
from mmlib.runs.executors import DaskExecutor, LocalExecutor
from mmlib.runs.record import RESULT_ENV_VAR, record_fold_result
from mmlib.runs.runner import FoldResult, FoldsFailed, RunSummary, run_fold, run_folds

__all__ = [
    "RESULT_ENV_VAR",
    "Aggregate",
    "DaskExecutor",
    "FoldResult",
    "FoldsFailed",
    "LocalExecutor",
    "RunSummary",
    "aggregate",
    "record_fold_result",
    "run_fold",
    "run_folds",
]
