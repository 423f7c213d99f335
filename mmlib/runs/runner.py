"""Run a chapter once per cross-validation fold with papermill.

Every paper in this book reports k-fold cross-validation (3-fold for the
guidance paper, 5-fold for M3, see ``../shared/papers/NOTES.md``). A chapter
trains one fold; :func:`run_folds` executes it for each fold through papermill's
API, on the notebook that jupytext reads from the chapter's ``.md``, and keeps
one folder per fold::

    runs/<chapter>/<tag>/params.json          the sweep's parameters (all folds)
    runs/<chapter>/<tag>/fold-<k>/executed.ipynb
    runs/<chapter>/<tag>/fold-<k>/metrics.json  written by record_fold_result
    runs/<chapter>/<tag>/fold-<k>/kernel-stderr.log  the fold kernel's stderr
    runs/<chapter>/<tag>/fold-<k>/done          written last: the fold is finished

A fold with ``done`` and ``metrics.json`` is skipped on the next run; any other
fold folder (a run killed mid-way) is deleted and the fold rerun from scratch.
The executed notebook and the marker are written atomically (temp file + rename).

papermill only warns about parameters the notebook does not declare, and passes
values of any type; here an unknown name, or a value whose type the chapter does
not accept (its annotation, else its default's type), is an error
(:class:`~mmlib.errors.ParameterError`) naming the parameter, checked before any
kernel starts. (Hand-written: the sweep layout, resume and validation; papermill,
jupytext and the executors do the rest.)
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import jupytext
import nbformat

from mmlib import atomic
from mmlib.config import REPO_ROOT
from mmlib.errors import DataError, ParameterError
from mmlib.runs.record import RESULT_ENV_VAR

#: The chapters live here; chapter names are paths relative to it, without suffix.
BOOK_ROOT = REPO_ROOT / "book"

#: Default folder for sweep results (git-ignored, excluded from the book and pytest).
DEFAULT_OUT = REPO_ROOT / "runs"

#: Per-fold file names.
EXECUTED, METRICS, DONE = "executed.ipynb", "metrics.json", "done"
KERNEL_LOG = "kernel-stderr.log"  # the fold kernel's stderr (see _stderr_to)

#: Tag of the cell the runner puts before the chapter's first cell.
RUNNER_CELL_TAG = "mmlib-runner"


# --------------------------------------------------------------------------- chapters


def resolve_chapter(chapter: str | os.PathLike) -> tuple[Path, str]:
    """Return ``(path to the .md, chapter name)`` for a chapter name or path.

    ``"foundations/demo-classifier"``, ``"book/foundations/demo-classifier.md"``
    and an absolute path all name the same chapter. The name is the path
    relative to ``book/`` without suffix; a chapter outside ``book/`` (a test
    fixture) is named by its file stem.
    """
    given = Path(chapter)
    candidates = [given, given.with_suffix(".md"), BOOK_ROOT / given, (BOOK_ROOT / given).with_suffix(".md")]
    for candidate in candidates:
        if candidate.suffix == ".md" and candidate.is_file():
            path = candidate.resolve()
            try:
                name = path.relative_to(BOOK_ROOT.resolve()).with_suffix("").as_posix()
            except ValueError:
                name = path.stem
            return path, name
    raise DataError(chapter, f"no chapter .md found (looked for {', '.join(str(c) for c in candidates[1::2])})")


def _parameters_cell(notebook: nbformat.NotebookNode, where: str | Path) -> tuple[str, ast.Module]:
    cells = [c for c in notebook.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise ParameterError(f"{where}: has no code cell tagged 'parameters', so it takes no run parameters")
    try:
        return cells[0].source, ast.parse(cells[0].source)
    except SyntaxError as exc:
        raise DataError(where, f"the parameters cell is not valid Python ({exc})") from None


def chapter_parameters(notebook: nbformat.NotebookNode, where: str | Path = "chapter") -> dict[str, Any]:
    """The names and default values of the notebook's ``parameters``-tagged cell.

    Parsed with :mod:`ast` (``papermill.inspect_notebook`` needs a file and
    returns defaults as source text); a default that is not a Python literal is
    kept as its source text.
    """
    source, tree = _parameters_cell(notebook, where)
    defaults: dict[str, Any] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name) and node.value is not None:
                try:
                    defaults[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    defaults[target.id] = ast.get_source_segment(source, node.value)
    return defaults


#: The types a parameter annotation may name, and what each accepts (papermill passes sequences as lists).
_ANNOTATION_TYPES = {"int": (int,), "float": (int, float), "str": (str, os.PathLike), "bool": (bool,), "tuple": (tuple, list),
                     "list": (tuple, list), "dict": (dict,), "None": (type(None),)}


def parameter_types(notebook: nbformat.NotebookNode, where: str | Path = "chapter") -> dict[str, tuple[str, ...]]:
    """The types each parameter accepts: its annotation (``x: int | None = None``), else its default's type.

    A default of ``None`` without an annotation accepts anything. Names are the
    keys of :data:`_ANNOTATION_TYPES`.
    """
    source, tree = _parameters_cell(notebook, where)
    types: dict[str, tuple[str, ...]] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = ast.get_source_segment(source, node.annotation).replace(" ", "").split("|")
            unknown = [n for n in names if n not in _ANNOTATION_TYPES]
            if unknown:
                raise DataError(where, f"parameter {node.target.id!r}: annotation names {unknown}; use "
                                       f"{' | '.join(_ANNOTATION_TYPES)}")
            types[node.target.id] = tuple(names)
        elif isinstance(node, ast.Assign):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            kind = {bool: "bool", int: "int", float: "float", str: "str", tuple: "tuple", list: "list",
                    dict: "dict"}.get(type(value))
            for target in node.targets:
                if isinstance(target, ast.Name) and kind is not None:
                    types[target.id] = (kind,)
    return types


def check_parameter_types(types: dict[str, tuple[str, ...]], params: dict[str, Any], where: str) -> None:
    """Refuse a parameter value whose type the chapter does not accept, naming the parameter, value and type."""
    for name, value in params.items():
        accepted = types.get(name)
        if accepted is None:
            continue
        allowed = tuple(t for kind in accepted for t in _ANNOTATION_TYPES[kind])
        ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
        if not ok:
            raise ParameterError(f"{where}: parameter {name}={value!r} is a {type(value).__name__}; "
                                 f"the chapter expects {' | '.join(accepted)}")


def chapter_defaults(chapter: str | os.PathLike) -> dict[str, Any]:
    """The default parameters of a chapter (name or path), read from its ``.md``."""
    path, _ = resolve_chapter(chapter)
    return chapter_parameters(jupytext.read(path), path)


def validate_parameters(known: dict[str, Any], params: dict[str, Any], folds: Iterable[int], where: str) -> None:
    """Refuse unknown parameter names and folds outside ``range(n_folds)``."""
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ParameterError(
            f"{where}: unknown parameter(s) {unknown}; the chapter's parameters are {sorted(known)}"
        )
    if "fold" in params:
        raise ParameterError(f"{where}: pass folds with folds=[...] (--folds), not as a parameter")
    n_folds = params.get("n_folds", known.get("n_folds"))
    for fold in folds:
        if isinstance(fold, bool) or not isinstance(fold, int) or fold < 0:
            raise ParameterError(f"{where}: fold {fold!r} is not a non-negative integer")
        if isinstance(n_folds, int) and fold >= n_folds:
            raise ParameterError(f"{where}: fold {fold} is out of range for n_folds={n_folds} (folds 0..{n_folds - 1})")


def default_tag(params: dict[str, Any]) -> str:
    """A short deterministic name for a parameter set (the fold excluded)."""
    text = json.dumps({k: v for k, v in params.items() if k != "fold"}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


# --------------------------------------------------------------------------- one fold


@dataclass(frozen=True)
class FoldSpec:
    """Everything a worker needs to run one fold (plain data, so it pickles)."""

    chapter_path: str
    fold: int
    params: dict[str, Any]
    fold_dir: str
    kernel_name: str = "python3"
    timeout_s: int | None = None
    threads: int | None = None


@dataclass
class FoldResult:
    """The outcome of one fold: ``status`` is ``"ran"``, ``"skipped"`` or ``"failed"``."""

    fold: int
    status: str
    fold_dir: str
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def _ipc_kernel_manager(socket_dir: str):
    """A kernel manager class whose kernels talk over unix sockets in ``socket_dir``.

    The default TCP transport picks free ports and lets the kernel bind them
    later; folds started at the same moment can pick the same port, and one
    kernel then dies with ZMQ's "Address already in use". Sockets in a folder
    of their own cannot collide.
    """
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(transport="ipc", ip=os.path.join(socket_dir, "kernel"), **kwargs)

    return IPCKernelManager


def fold_is_done(fold_dir: str | Path) -> bool:
    """A fold is finished when its ``done`` marker and ``metrics.json`` both exist."""
    return (Path(fold_dir) / DONE).is_file() and (Path(fold_dir) / METRICS).is_file()


#: The environment variables that cap a kernel's compute threads (OpenMP, MKL, OpenBLAS).
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _runner_cell(result_path: Path, threads: int | None = None) -> nbformat.NotebookNode:
    """The first cell of the executed notebook: tells record_fold_result where to write, and caps threads.

    It also ties the kernel to the worker process that builds this cell (the
    kernel's parent), so that a killed sweep leaves no kernel computing on.

    Setting the variables inside the kernel (not in the worker's environment)
    keeps folds that share a worker process or thread from seeing each other's
    path. With ``threads``, the kernel's OpenMP/BLAS pools and torch's intra-op
    pool are capped before the chapter imports anything heavy.
    """
    lines = ["# Added by mmlib.runs: where record_fold_result writes this fold's metrics;",
             "# the kernel ends when the worker that started it does (mmlib.runs.lifetime).",
             "import os",
             f"os.environ[{RESULT_ENV_VAR!r}] = {str(result_path)!r}",
             "from mmlib.runs.lifetime import die_with_parent",
             f"die_with_parent({os.getpid()})"]
    if threads is not None:
        lines += [f"os.environ[{name!r}] = {str(threads)!r}" for name in THREAD_ENV_VARS]
        lines += ["import torch", f"torch.set_num_threads({int(threads)})"]
    source = "\n".join(lines)
    return nbformat.v4.new_code_cell(source, metadata={"tags": [RUNNER_CELL_TAG, "remove-cell"]})


class _ValidatedParameters(logging.Filter):
    """Drops papermill's "Passed unknown parameter" warning, which is wrong for these chapters.

    papermill reads a parameters cell with a regular expression that does not
    know ``x: tuple | None = None``, so it calls every such parameter unknown.
    :func:`run_folds` has already checked every name and type against the
    chapter itself (:func:`validate_parameters`, :func:`check_parameter_types`).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Passed unknown parameter")


@contextmanager
def _stderr_to(log_path: Path):
    """Send this process's stderr (file descriptor 2) to ``log_path`` while the block runs.

    The kernel papermill starts inherits descriptor 2, so its start-up chatter and
    any crash trace land in the fold folder instead of the caller's terminal or
    notebook. (Hand-written: contextlib.redirect_stderr only swaps sys.stderr.)
    """
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def papermill_value(value):
    """``value`` as papermill can inject it: tuples (also nested) become lists.

    papermill writes lists, dicts and scalars as Python literals but a tuple as the
    *string* of its repr, so ``-p "spatial_size=(150, 240, 240)"`` would reach the
    chapter as ``"(150, 240, 240)"``. Chapters take any sequence where they take a tuple.
    """
    if isinstance(value, (tuple, list)):
        return [papermill_value(v) for v in value]
    if isinstance(value, dict):
        return {k: papermill_value(v) for k, v in value.items()}
    return value


def run_fold(spec: FoldSpec) -> FoldResult:
    """Run one fold from scratch: clear its folder, execute, then mark it done.

    Never raises for a failing chapter: the error comes back in the result (so
    that one bad fold does not hide the others) and the partly executed notebook
    is left as ``executed.partial.ipynb`` for inspection.
    """
    import papermill

    start = time.perf_counter()
    chapter, fold_dir = Path(spec.chapter_path), Path(spec.fold_dir)
    if fold_dir.exists():
        shutil.rmtree(fold_dir)
    fold_dir.mkdir(parents=True)
    notebook = jupytext.read(chapter)
    notebook.cells.insert(0, _runner_cell(fold_dir / METRICS, spec.threads))
    partial = fold_dir / "executed.partial.ipynb"
    parameters = {name: papermill_value(value) for name, value in {**spec.params, "fold": spec.fold}.items()}
    source = fold_dir / "source.ipynb"  # in the fold folder, so a killed run leaves nothing elsewhere
    nbformat.write(notebook, source)
    socket_dir = tempfile.mkdtemp(prefix="mmlib-kernel-")  # short: a unix socket path holds ~100 characters
    quiet = _ValidatedParameters()
    logging.getLogger("papermill").addFilter(quiet)
    try:
        with _stderr_to(fold_dir / KERNEL_LOG):
            papermill.execute_notebook(
                str(source),
                str(partial),
                parameters=parameters,
                kernel_name=spec.kernel_name,
                progress_bar=False,
                cwd=str(chapter.parent),
                execution_timeout=spec.timeout_s,
                kernel_manager_class=_ipc_kernel_manager(socket_dir),
            )
        if not (fold_dir / METRICS).is_file():
            raise DataError(chapter, "ran to the end without calling mmlib.runs.record_fold_result")
    except Exception as exc:  # reported per fold; see the docstring
        return FoldResult(spec.fold, "failed", str(fold_dir), time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}")
    finally:
        logging.getLogger("papermill").removeFilter(quiet)
        shutil.rmtree(socket_dir, ignore_errors=True)
    os.replace(partial, fold_dir / EXECUTED)
    source.unlink()
    seconds = time.perf_counter() - start
    info = {"chapter": str(chapter), "fold": spec.fold, "params": parameters, "seconds": seconds, "host": platform.node()}
    atomic.write_json(fold_dir / DONE, info)
    metrics = json.loads((fold_dir / METRICS).read_text())["metrics"]
    return FoldResult(spec.fold, "ran", str(fold_dir), seconds, metrics)


# --------------------------------------------------------------------------- a sweep


class FoldsFailed(RuntimeError):
    """Raised by :func:`run_folds` after all folds ran when some of them failed."""

    def __init__(self, summary: "RunSummary"):
        self.summary = summary
        lines = [f"fold {r.fold}: {r.error} (see {r.fold_dir})" for r in summary.failed]
        super().__init__(f"{len(lines)} fold(s) of {summary.chapter} failed:\n" + "\n".join(lines))


@dataclass
class RunSummary:
    """The result of :func:`run_folds`: one :class:`FoldResult` per requested fold."""

    chapter: str
    tag: str
    run_dir: Path
    results: list[FoldResult]

    @property
    def ran(self) -> list[FoldResult]:
        return [r for r in self.results if r.status == "ran"]

    @property
    def skipped(self) -> list[FoldResult]:
        return [r for r in self.results if r.status == "skipped"]

    @property
    def failed(self) -> list[FoldResult]:
        return [r for r in self.results if r.status == "failed"]


def _claim_tag(run_dir: Path, chapter: str, params: dict[str, Any]) -> None:
    """Write the sweep's ``params.json``; refuse a tag that holds other parameters."""
    record = json.loads(json.dumps({"chapter": chapter, "params": params}, sort_keys=True, default=str))
    existing = run_dir / "params.json"
    if existing.is_file():
        previous = json.loads(existing.read_text())
        if previous != record:
            raise ParameterError(
                f"{run_dir}: this tag already holds a sweep with parameters {previous['params']}, "
                f"not {record['params']}; choose another tag or delete that folder"
            )
        return
    atomic.write_json(existing, record)


def run_folds(
    chapter: str | os.PathLike,
    folds: Iterable[int] = (0, 1, 2),
    params: dict[str, Any] | None = None,
    tag: str | None = None,
    executor=None,
    out: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = True,
    timeout_s: int | None = None,
    threads: int | None = None,
) -> RunSummary:
    """Execute ``chapter`` once per fold with ``params`` (plus ``fold=k``).

    Parameters
    ----------
    chapter
        Chapter name (``"foundations/demo-classifier"``) or path to its ``.md``.
    folds
        Fold indices; each must be in ``range(n_folds)`` when the chapter has ``n_folds``.
    params
        Parameter overrides; every name must appear in the chapter's parameters cell.
    tag
        Sweep name; defaults to :func:`default_tag` of ``params``.
    executor
        :class:`~mmlib.runs.executors.LocalExecutor` (default, one worker) or
        :class:`~mmlib.runs.executors.DaskExecutor`.
    out
        Root of the results (default ``<repo>/runs``).
    force
        Rerun folds that are already finished.
    timeout_s
        Per-cell execution limit passed to papermill (default: none).
    threads
        Compute threads per fold kernel (OpenMP/BLAS and torch); default: the
        libraries' own choice (all cores). Parallel folds want ``cores // folds``.

    Raises
    ------
    ParameterError
        Unknown parameter names, folds out of range, or a tag reused with other parameters.
    FoldsFailed
        After the sweep, if any fold failed.
    """
    from tqdm import tqdm

    from mmlib.runs.executors import LocalExecutor

    path, name = resolve_chapter(chapter)
    params = dict(params or {})
    folds = list(folds)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ParameterError(f"threads={threads!r} must be a positive integer or None")
    if len(set(folds)) != len(folds):
        raise ParameterError(f"{name}: folds {folds} repeat a fold")
    notebook = jupytext.read(path)
    validate_parameters(chapter_parameters(notebook, path), params, folds, name)
    check_parameter_types(parameter_types(notebook, path), params, name)
    tag = tag or default_tag(params)
    run_dir = Path(out or DEFAULT_OUT) / name / tag
    _claim_tag(run_dir, name, params)

    specs, results = [], {}
    for fold in folds:
        fold_dir = run_dir / f"fold-{fold}"
        if not force and fold_is_done(fold_dir):
            metrics = json.loads((fold_dir / METRICS).read_text())["metrics"]
            results[fold] = FoldResult(fold, "skipped", str(fold_dir), metrics=metrics)
        else:
            specs.append(FoldSpec(str(path), fold, params, str(fold_dir), timeout_s=timeout_s, threads=threads))

    executor = executor or LocalExecutor()
    with tqdm(total=len(folds), desc=f"{name} [{tag}]", unit="fold", disable=not progress) as bar:
        bar.update(len(results))
        for result in executor.run(run_fold, specs):
            results[result.fold] = result
            bar.set_postfix_str(f"fold {result.fold} {result.status}")
            bar.update(1)

    summary = RunSummary(name, tag, run_dir, [results[f] for f in folds])
    if summary.failed:
        raise FoldsFailed(summary)
    return summary
