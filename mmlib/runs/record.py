"""What a chapter hands back to the fold runner: one fold's record, the book's one results format.

A chapter ends with ``record_fold_result(metrics, y_true=..., y_score=...,
case_ids=..., methods=...)``. Under the fold runner (:func:`mmlib.runs.run_folds`)
the kernel's environment variable :data:`RESULT_ENV_VAR` names the fold's
``metrics.json``, and the record is written there atomically. Anywhere else
(the book build, a notebook opened by hand) nothing is written and the record is
only returned, so chapters can call it unconditionally.

The record (``metrics.json``)::

    {"metrics":     {name: number},                the chapter's final model, on the test cases
     "predictions": {"case_id": [...], "y_true": [...], "y_score": [...]},   (each optional)
     "extra":       {"methods": {method: {"metrics": {...},
                                          "y_score": [...],                  classifiers: one per case
                                          "per_case": {case_id: {name: number}}}},   per-case scores
                     ...anything else JSON: epochs, training curves, settings},
     "data":        {"sha256": {file: hash}} or {"description": {...}},   what was read (provenance)
     "artifacts":   [file names copied next to metrics.json]}

Classification chapters keep per-case predictions so that results chapters can
pool them over folds into one ROC curve, as the papers' ROC figures do
(guidance paper Fig. 5, M3 Figs. 4, 6, 7); image-fusion chapters keep each test
pair's scores (``per_case``). :func:`mmlib.runs.aggregate.read_run` reads both.
(Hand-written: no library defines this record.)
"""

from __future__ import annotations

import math
import os
import shutil
from numbers import Real
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mmlib import atomic
from mmlib.data.io import sha256_file
from mmlib.errors import DataError, ParameterError

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


def _checked_methods(methods: Mapping[str, Mapping[str, Any]], n_cases: int | None) -> dict[str, dict]:
    """Each method's ``metrics`` checked, its ``y_score`` one per test case, its ``per_case`` finite."""
    checked = {}
    for name, result in methods.items():
        if not isinstance(result, Mapping) or "metrics" not in result:
            raise ParameterError(f"methods[{name!r}] must be a dict with 'metrics' (and 'y_score' or 'per_case')")
        unknown = set(result) - {"metrics", "y_score", "per_case"}
        if unknown:
            raise ParameterError(f"methods[{name!r}] has unknown keys {sorted(unknown)}")
        entry: dict[str, Any] = {"metrics": _checked_metrics(dict(result["metrics"]))}
        if "y_score" in result:
            entry["y_score"] = _as_list(f"methods[{name!r}].y_score", result["y_score"])
            if n_cases is not None and len(entry["y_score"]) != n_cases:
                raise ParameterError(f"methods[{name!r}] has {len(entry['y_score'])} scores for {n_cases} test cases")
        if "per_case" in result:
            entry["per_case"] = {str(case): _checked_metrics(dict(values)) for case, values in result["per_case"].items()}
        checked[str(name)] = entry
    return checked


def file_checksums(files: Sequence[str | os.PathLike]) -> dict[str, str]:
    """SHA-256 of each file, keyed by its path relative to the files' common folder (no absolute paths)."""
    paths = [Path(f) for f in files]
    for path in paths:
        if not path.is_file():
            raise DataError(path, "data file for the provenance record does not exist")
    if not paths:
        return {}
    base = Path(os.path.commonpath([p.resolve().parent for p in paths]))
    return {path.resolve().relative_to(base).as_posix(): sha256_file(path) for path in paths}


def data_record(data: Mapping[str, Any] | Sequence[str | os.PathLike]) -> dict[str, Any]:
    """``{"sha256": {...}}`` of a list of files read, or ``{"description": {...}}`` of a dict."""
    if isinstance(data, Mapping):
        return {"description": dict(data)}
    if isinstance(data, (str, bytes, os.PathLike)):
        raise ParameterError("data must be a list of files or a dict describing the data, not a single path")
    return {"sha256": file_checksums(data)}


def _copy_artifacts(artifacts: Mapping[str, str | os.PathLike], fold_dir: Path) -> list[str]:
    """Copy each ``{name: source file}`` into ``fold_dir`` atomically (temp file + rename)."""
    names = []
    for name, source in artifacts.items():
        source = Path(source)
        if Path(name).name != name or name in ("metrics.json", "done"):
            raise ParameterError(f"artifact name {name!r} must be a plain file name other than metrics.json / done")
        if not source.is_file():
            raise DataError(source, f"artifact {name!r} does not exist")
        partial = fold_dir / f".{name}.tmp"
        shutil.copy2(source, partial)
        os.replace(partial, fold_dir / name)
        names.append(name)
    return names


def record_fold_result(
    metrics: dict,
    *,
    y_true: Sequence | np.ndarray | None = None,
    y_score: Sequence | np.ndarray | None = None,
    case_ids: Sequence | np.ndarray | None = None,
    methods: Mapping[str, Mapping[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    data: Mapping[str, Any] | Sequence[str | os.PathLike] | None = None,
    artifacts: Mapping[str, str | os.PathLike] | None = None,
) -> dict:
    """Record one fold's metrics (and per-case predictions) for the fold runner.

    Parameters
    ----------
    metrics
        Metric name -> finite number (e.g. the output of
        :func:`mmlib.eval.metrics.binary_metrics`) of the chapter's final model.
    y_true, y_score, case_ids
        The test cases' labels, positive-class scores and identifiers, all of
        the same length (any may be omitted, but given ones must agree).
    methods
        Every method scored on the same test cases: ``{name: {"metrics": {...},
        "y_score": [...]}}`` (one score per case, in ``y_true``'s order) and/or
        ``"per_case": {case_id: {metric: value}}``. Stored as ``extra["methods"]``.
    extra
        Any other JSON-serialisable information (epochs run, training curves...).
    data
        What the fold read, for the provenance of an exported run: a list of
        real files (their SHA-256 is recorded) or a dict describing generated data.
    artifacts
        ``{file name: path}`` of small files to keep with the fold (a checkpoint,
        the split). Under the runner they are copied next to ``metrics.json``;
        :func:`mmlib.runs.provenance.export_run` exports them with the record.

    Returns
    -------
    dict
        The record; it is also written atomically to ``$MMLIB_RUN_RESULT`` when
        the runner has set it.
    """
    predictions = {
        "case_id": _as_list("case_ids", case_ids),
        "y_true": _as_list("y_true", y_true),
        "y_score": _as_list("y_score", y_score),
    }
    lengths = {name: len(values) for name, values in predictions.items() if values is not None}
    if len(set(lengths.values())) > 1:
        raise ParameterError(f"predictions must have one entry per case; got lengths {lengths}")
    extra = dict(extra or {})
    if methods is not None:
        if "methods" in extra:
            raise ParameterError("pass methods=... or extra['methods'], not both")
        extra["methods"] = _checked_methods(methods, next(iter(lengths.values()), None))
    record = {
        "metrics": _checked_metrics(metrics),
        "predictions": {name: values for name, values in predictions.items() if values is not None},
        "extra": extra,
    }
    if data is not None:
        record["data"] = data_record(data)
    target = os.environ.get(RESULT_ENV_VAR)
    if artifacts:
        for name, source in artifacts.items():
            if not Path(source).is_file():
                raise DataError(source, f"artifact {name!r} does not exist")
        record["artifacts"] = sorted(artifacts)
        if target:
            _copy_artifacts(artifacts, Path(target).parent)
    if target:
        atomic.write_json(target, record)
    return record
