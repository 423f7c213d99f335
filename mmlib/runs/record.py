"""What a chapter hands back to the fold runner: one fold's metrics and predictions.

A chapter ends with ``record_fold_result(metrics, y_true=..., y_score=...,
case_ids=...)``. Under the fold runner (:func:`mmlib.runs.run_folds`) the
kernel's environment variable :data:`RESULT_ENV_VAR` names the fold's
``metrics.json``, and the record is written there atomically. Anywhere else
(the book build, a notebook opened by hand) nothing is written and the record is
only returned, so chapters can call it unconditionally.

The per-case predictions are kept so that results chapters can pool them over
folds into one ROC curve, as the papers' ROC figures do (guidance paper Fig. 5,
M3 Figs. 4, 6, 7). (Hand-written: no library defines this record.)
"""

from __future__ import annotations

import math
import os
from numbers import Real
from typing import Any, Sequence

import numpy as np

from mmlib import atomic
from mmlib.errors import ParameterError

#: Environment variable that the runner sets inside the chapter's kernel.
RESULT_ENV_VAR = "MMLIB_RUN_RESULT"


def _as_list(name: str, values: Sequence | np.ndarray | None) -> list | None:
    """Turn an array-like into a JSON-ready list (``None`` stays ``None``)."""
    if values is None:
        return None
    array = np.asarray(values)
    if array.ndim == 0:
        raise ParameterError(f"{name} must be a sequence with one entry per case, got a scalar")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ParameterError(f"{name} holds NaN or infinite values")
    return array.tolist()


def _checked_metrics(metrics: dict) -> dict[str, float]:
    """Metric names must be strings and values finite real numbers."""
    if not isinstance(metrics, dict) or not metrics:
        raise ParameterError(f"metrics must be a non-empty dict of name -> number, got {metrics!r}")
    checked = {}
    for name, value in metrics.items():
        if not isinstance(name, str):
            raise ParameterError(f"metric names must be strings, got {name!r}")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.number)):
            raise ParameterError(f"metric {name!r} must be a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise ParameterError(f"metric {name!r} is {value}; a fold result must be finite")
        checked[name] = float(value)
    return checked


def record_fold_result(
    metrics: dict,
    *,
    y_true: Sequence | np.ndarray | None = None,
    y_score: Sequence | np.ndarray | None = None,
    case_ids: Sequence | np.ndarray | None = None,
    extra: dict[str, Any] | None = None,
) -> dict:
    """Record one fold's metrics (and per-case predictions) for the fold runner.

    Parameters
    ----------
    metrics
        Metric name -> finite number (e.g. the output of
        :func:`mmlib.eval.metrics.binary_metrics`).
    y_true, y_score, case_ids
        The test cases' labels, positive-class scores and identifiers, all of
        the same length (any may be omitted, but given ones must agree).
    extra
        Any other JSON-serialisable information (epochs run, class names...).

    Returns
    -------
    dict
        The record ``{"metrics", "predictions", "extra"}``; it is also written
        atomically to ``$MMLIB_RUN_RESULT`` when the runner has set it.
    """
    predictions = {
        "case_id": _as_list("case_ids", case_ids),
        "y_true": _as_list("y_true", y_true),
        "y_score": _as_list("y_score", y_score),
    }
    lengths = {name: len(values) for name, values in predictions.items() if values is not None}
    if len(set(lengths.values())) > 1:
        raise ParameterError(f"predictions must have one entry per case; got lengths {lengths}")
    record = {
        "metrics": _checked_metrics(metrics),
        "predictions": {name: values for name, values in predictions.items() if values is not None},
        "extra": extra or {},
    }
    target = os.environ.get(RESULT_ENV_VAR)
    if target:
        atomic.write_json(target, record)
    return record
