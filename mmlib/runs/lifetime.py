"""Tie a fold process's life to its parent's, so that killing a sweep leaves no orphans.

A sweep is three generations of processes: the runner (``python -m mmlib.runs``),
its pool workers, and the Jupyter kernel each worker starts for its fold. Killed
(Ctrl-C in another shell, ``kill``, a scheduler's time limit), the runner used to
leave its workers and their kernels computing on. Each worker and each kernel
therefore asks Linux to signal it when its parent exits (``prctl(PR_SET_PDEATHSIG)``),
so the kill passes down the chain. Hand-written: the standard library has no
binding for it (``python-prctl`` would add a compiled dependency for one call).
Elsewhere than Linux it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import platform
import signal

#: ``PR_SET_PDEATHSIG`` in Linux's ``<linux/prctl.h>``.
PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None, sig: int = signal.SIGTERM) -> bool:
    """Have this process receive ``sig`` when its parent exits; return whether that was set.

    ``parent`` is the process id the caller expects as its parent: if the parent
    is already gone (the kill came before this call), this process exits at once
    with ``128 + sig`` instead of running on as an orphan.
    """
    if platform.system() != "Linux":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if parent is not None and os.getppid() != parent:
        os._exit(128 + int(sig))
    return True
