"""What the benchmarks measure about the machine itself: the dense matmul rate and this process's peak memory.

Shared by ``guidance_speed.py``, ``m3_speed.py`` and ``masan_speed.py`` (run as
scripts from the repository root, so this folder is on ``sys.path``).
"""

from __future__ import annotations

import resource
import time

import torch

GIB = 2**30


def matmul_rate(dtype: torch.dtype, n: int = 2048, seconds: float = 1.5) -> float:
    """Dense ``torch.mm`` GFLOP/s of an n x n product in ``dtype`` (2 n^3 FLOPs each), at the current thread count."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        done += 1
    return 2 * n**3 * done / (time.perf_counter() - start) / 1e9


def max_rss_gib() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
