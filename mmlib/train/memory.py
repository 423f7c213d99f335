"""Keep freed memory in the process so that large CPU tensors do not page-fault on every step.

glibc's ``malloc`` serves a request of more than its mmap threshold (dynamic, at most
32 MiB on 64-bit systems) with a fresh ``mmap`` and gives it back with ``munmap`` when
it is freed. The kernel then zero-fills every page again on first touch, so a training
step whose activations exceed 32 MiB each (DILRAN at 256 x 256, batch 4: a 64-channel
float32 map is 64 MiB) pays a page fault per 4 KiB of every such tensor, every step:
about 0.88 million faults (3.3 GiB) per DILRAN step at 256 x 256 against 20 thousand at
128 x 128, where the maps fit under the threshold and are reused from the heap
(``benchmarks/dilran_speed.py`` shows what this costs).

:func:`retain_freed_memory` raises the mmap and trim thresholds with ``mallopt``, so such
blocks come from the heap and stay there when freed; the next step reuses them without
faults. The numbers computed are unchanged. The price: the process keeps its peak heap
until it exits instead of returning it to the system.
"""

from __future__ import annotations

import ctypes
import platform

#: ``mallopt`` parameter numbers in glibc's ``malloc.h``.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: Blocks up to this size come from the heap and freed heap memory up to it is kept (1 GiB).
RETAIN_BYTES = 1 << 30


def retain_freed_memory(limit: int = RETAIN_BYTES) -> bool:
    """Serve allocations up to ``limit`` bytes from the heap and keep up to ``limit`` freed bytes.

    Process-wide and not undone (glibc cannot return to its dynamic threshold). Returns
    ``True`` when both settings were applied, ``False`` where the C library is not glibc
    (nothing is changed there). ``limit`` must fit a C ``int``.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL("libc.so.6").mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, limit)) and bool(mallopt(M_TRIM_THRESHOLD, limit))
