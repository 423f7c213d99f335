"""What the benchmarks measure about the machine itself: the dense matmul rate, this process's peak memory and the load.

Shared by ``guidance_speed.py``, ``m3_speed.py`` and ``masan_speed.py`` (run as
scripts from the repository root, so this folder is on ``sys.path``).
"""

from __future__ import annotations

import os
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


def matmul_rates() -> dict[str, float]:
    """:func:`matmul_rate` in fp32 and in bf16, keyed by the benchmarks' precision names."""
    return {"fp32": matmul_rate(torch.float32), "bf16": matmul_rate(torch.bfloat16)}


def add_share_of_matmul(table, start: dict[str, float], end: dict[str, float]) -> None:
    """Add a ``"% of mm"`` column to ``table`` (a DataFrame with ``"GFLOP/s"`` and ``"precision"`` columns): each
    row's rate against the mean of the matmul rates of its precision measured at the start and end of the run.
    A table without ``"GFLOP/s"`` (every configuration failed) is left as it is."""
    if "GFLOP/s" in table:
        rate = {k: (start[k] + end[k]) / 2 for k in start}
        table["% of mm"] = 100 * table["GFLOP/s"] / table["precision"].map(rate)


def matmul_summary(start: dict[str, float], end: dict[str, float], threads: str = "") -> str:
    """One line with the start and end matmul rates; ``threads`` (e.g. ``", one thread"``) follows the matrix size."""
    return (f"dense torch.mm 2048x2048{threads}: fp32 {start['fp32']:.0f} -> {end['fp32']:.0f} GFLOP/s, "
            f"bf16 {start['bf16']:.0f} -> {end['bf16']:.0f} GFLOP/s (start -> end; the mean is the reference)")


def max_rss_gib() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, two decimals each."""
    load = os.getloadavg()
    return f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def closing_line(load: str, started: float) -> str:
    """The last line of a benchmark: the load average ``load`` at its end and its wall time since ``started``
    (a ``time.perf_counter()`` reading)."""
    return (f"load average at end {load} (other processes share the CPU: rates scale with the share this run got); "
            f"wall time {time.perf_counter() - started:.0f} s")
