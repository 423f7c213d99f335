"""Where folds run: a local process pool, or a dask.distributed cluster.

Both executors expose ``run(fn, specs)``, which submits ``fn(spec)`` for every
spec and yields the results as they complete; :func:`mmlib.runs.run_folds`
passes its picklable :func:`~mmlib.runs.runner.run_fold`. Each fold starts its
own Jupyter kernel, so a worker needs only the ``mmlib`` environment and the
chapter files on a shared file system.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterable, Iterator

from mmlib.errors import ParameterError
from mmlib.runs.lifetime import die_with_parent


class LocalExecutor:
    """Folds in a :class:`concurrent.futures.ProcessPoolExecutor` on this machine.

    ``max_workers`` folds run at once (default 1: one fold usually fills a small
    machine). Workers are started with ``spawn``, which is safe from inside a
    Jupyter kernel and from threaded programs, and end when this process does
    (:func:`mmlib.runs.lifetime.die_with_parent`), taking their fold kernels with them.
    """

    def __init__(self, max_workers: int = 1):
        if max_workers < 1:
            raise ParameterError(f"max_workers must be >= 1, got {max_workers}")
        self.max_workers = max_workers

    def run(self, fn: Callable[[Any], Any], specs: Iterable[Any]) -> Iterator[Any]:
        specs = list(specs)
        if not specs:
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.max_workers, len(specs)), mp_context=context,
                                 initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
            for future in as_completed([pool.submit(fn, spec) for spec in specs]):
                yield future.result()


class DaskExecutor:
    """Folds as tasks on a :mod:`dask.distributed` cluster.

    ``address`` is a running scheduler (``"tcp://host:8786"``, started with
    ``dask scheduler`` / ``dask worker`` or by ``dask_jobqueue.SLURMCluster``).
    Without it a :class:`distributed.LocalCluster` of ``n_workers`` single-thread
    worker processes is started for the sweep and closed after it.
    """

    def __init__(self, address: str | None = None, n_workers: int = 2, threads_per_worker: int = 1):
        if n_workers < 1 or threads_per_worker < 1:
            raise ParameterError(f"n_workers and threads_per_worker must be >= 1, got {n_workers}, {threads_per_worker}")
        self.address = address
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker

    def run(self, fn: Callable[[Any], Any], specs: Iterable[Any]) -> Iterator[Any]:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_as_completed

        specs = list(specs)
        if not specs:
            return
        cluster = None
        if self.address is None:
            cluster = LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=self.threads_per_worker,
                processes=True,
                dashboard_address=None,
            )
        try:
            with Client(self.address or cluster) as client:
                futures = [client.submit(fn, spec, pure=False) for spec in specs]
                for future in dask_as_completed(futures):
                    yield future.result()
        finally:
            if cluster is not None:
                cluster.close()
