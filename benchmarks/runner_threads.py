"""Fold sweeps on a small CPU: several single-thread folds side by side, or one fold at a time with all threads?

Runs the uni-modal glioma chapter (``book/guidance/unimodal.md``: one RMC on
T1ce, phantoms) for ``--folds`` folds through the fold runner twice, on an
otherwise idle machine, and prints the wall time of each setting:

* ``serial``: one fold at a time, each kernel with every core's thread;
* ``parallel``: one fold per core, one thread each (the runner's default).

Usage::

    .venv/bin/python benchmarks/runner_threads.py            # about 4 minutes on 2 cores
    .venv/bin/python benchmarks/runner_threads.py --epochs 4 --n-cases 90

The result table goes in ``benchmarks/README.md``. Timing only: the folds' metrics
are not compared (threads change floating-point summation order).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from mmlib.runs import LocalExecutor, run_folds


def sweep(workers: int, threads: int, folds: list[int], params: dict, out: str) -> float:
    start = time.perf_counter()
    run_folds("guidance/unimodal", folds, params, tag=f"w{workers}-t{threads}", executor=LocalExecutor(workers),
              out=out, progress=False, threads=threads)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-cases", type=int, default=60)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    folds = list(range(args.folds))
    params = {"n_folds": max(3, args.folds), "max_epochs": args.epochs, "n_cases": args.n_cases,
              "modalities": ["t1ce"], "precision": "bf16", "device": "cpu"}
    out = tempfile.mkdtemp(prefix="runner-threads-")
    try:
        serial = sweep(1, cores, folds, params, out)
        parallel = sweep(min(cores, len(folds)), max(1, cores // min(cores, len(folds))), folds, params, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"{args.folds} folds of guidance/unimodal (T1ce RMC, {args.n_cases} phantoms, {args.epochs} epochs, bf16) "
          f"on {cores} cores, load average before: {os.getloadavg()[0]:.2f}")
    print(f"| setting | folds at once | threads per fold | wall time (s) |\n|---|---|---|---|")
    print(f"| serial | 1 | {cores} | {serial:.0f} |")
    print(f"| parallel | {min(cores, len(folds))} | {max(1, cores // min(cores, len(folds)))} | {parallel:.0f} |")
    print(f"parallel / serial speed-up: {serial / parallel:.2f}x")


if __name__ == "__main__":
    main()
