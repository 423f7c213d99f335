"""``python -m mmlib.runs CHAPTER --folds 0-2 -p key=value ...``: the fold runner's command line."""

from __future__ import annotations

import argparse
import ast
import os
import sys

from mmlib.errors import DataError, ParameterError

#: Spellings of YAML/JSON constants accepted in ``-p key=value``.
_CONSTANTS = {"true": True, "false": False, "none": None, "null": None}


def parse_folds(text: str) -> list[int]:
    """``"0-2"`` -> [0, 1, 2]; ``"0,2"`` -> [0, 2]; ``"1"`` -> [1]; ``"0-1,4"`` -> [0, 1, 4]."""
    folds: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            folds.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise ParameterError(f"--folds {text!r}: expected e.g. '0-2', '0,2' or '1'") from None
    if not folds:
        raise ParameterError(f"--folds {text!r} names no fold")
    return folds


def parse_param(text: str) -> tuple[str, object]:
    """``"max_epochs=5"`` -> ("max_epochs", 5); Python literals, true/false/none, else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise ParameterError(f"-p {text!r}: expected key=value with a Python identifier as key")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = _CONSTANTS.get(raw.strip().lower(), raw)
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mmlib.runs",
        description="Run a book chapter once per cross-validation fold with papermill, then aggregate.",
    )
    parser.add_argument("chapter", help="chapter name (foundations/demo-classifier) or path to its .md")
    parser.add_argument("--folds", type=parse_folds, help="folds to run: 0-2, 0,2 or 1 (default: 0..n_folds-1)")
    parser.add_argument("-p", "--param", dest="params", action="append", type=parse_param, default=[],
                        metavar="KEY=VALUE", help="set a chapter parameter (repeatable)")
    parser.add_argument("--tag", help="sweep name (default: a hash of the parameters)")
    parser.add_argument("--executor", choices=("local", "dask"), default="local")
    parser.add_argument("--workers", type=int, default=None,
                        help="folds at once (local) or LocalCluster workers (dask); default: as many as the "
                             "machine has cores, at most the number of folds")
    parser.add_argument("--threads", type=int, default=None,
                        help="compute threads per fold kernel; default: cores // workers")
    parser.add_argument("--dask-address", help="scheduler of a running dask cluster (tcp://host:8786)")
    parser.add_argument("--out", help="results root (default: <repo>/runs)")
    parser.add_argument("--force", action="store_true", help="rerun folds that already finished")
    parser.add_argument("--aggregate", action="store_true", help="only aggregate an existing sweep; run nothing")
    return parser


def default_workers_and_threads(n_folds: int, workers: int | None, threads: int | None,
                                cores: int | None = None) -> tuple[int, int]:
    """Folds at once and threads per fold: by default one single-thread fold per core.

    On this project's 2-core CPU two single-thread folds side by side finished a
    2-fold sweep 1.7x sooner than one fold at a time with two threads
    (``benchmarks/runner_threads.py``): two OpenMP threads in one process wait on each
    other at every barrier. Explicit values win.
    """
    cores = cores or os.cpu_count() or 1
    workers = workers or max(1, min(n_folds, cores))
    threads = threads or max(1, cores // workers)
    return workers, threads


def _executor(args, workers: int):
    from mmlib.runs.executors import DaskExecutor, LocalExecutor

    if args.executor == "dask":
        return DaskExecutor(address=args.dask_address, n_workers=workers)
    if args.dask_address:
        raise ParameterError("--dask-address needs --executor dask")
    return LocalExecutor(max_workers=workers)


def main(argv: list[str] | None = None) -> int:
    """Run the sweep (unless ``--aggregate``), then print the mean ± std table."""
    import jupytext

    from mmlib.runs.aggregate import aggregate
    from mmlib.runs.runner import FoldsFailed, chapter_parameters, default_tag, resolve_chapter, run_folds

    args = build_parser().parse_args(argv)
    params = dict(args.params)
    try:
        tag = args.tag or (default_tag(params) if params else None)
        if not args.aggregate:
            folds = args.folds
            if folds is None:
                path, _ = resolve_chapter(args.chapter)
                n_folds = params.get("n_folds", chapter_parameters(jupytext.read(path), path).get("n_folds"))
                if not isinstance(n_folds, int):
                    raise ParameterError(f"{args.chapter}: has no integer n_folds; pass --folds")
                folds = list(range(n_folds))
            workers, threads = default_workers_and_threads(len(folds), args.workers, args.threads)
            print(f"{len(folds)} fold(s), {workers} at once, {threads} thread(s) each")
            summary = run_folds(args.chapter, folds, params, tag=tag, executor=_executor(args, workers),
                                out=args.out, force=args.force, threads=threads)
            tag = summary.tag
            print(f"{summary.run_dir}: ran {len(summary.ran)}, skipped {len(summary.skipped)} fold(s)")
        result = aggregate(args.chapter, tag=tag, out=args.out)
    except (ParameterError, DataError, FoldsFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"\n{result.chapter} [{result.tag}], {len(result.per_fold)} fold(s):")
    print(result.per_fold.round(4).to_string())
    print()
    print(result.table().to_string())
    return 0
