"""mmlib.train.memory: freed large blocks stay in the process, so touching them again costs no page faults."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Allocates, fills and frees a 64 MiB tensor (above glibc's largest dynamic mmap threshold, 32 MiB)
#: three times to reach a steady state, then counts the minor page faults of three more.
PROBE = """
import resource, sys, torch
torch.set_num_threads(1)
from mmlib.train.memory import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == "retain" else None
def fills(n):
    for _ in range(n):
        torch.empty(16 << 20).fill_(1.0)  # 64 MiB of float32, freed at once
fills(3)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
fills(3)
print(applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 3)
"""


def faults_per_fill(mode: str) -> tuple[str, int]:
    """``(applied, minor page faults per fill)`` in a fresh process; ``mode`` ``"retain"`` or ``"default"``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env |= {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    applied, faults = out.stdout.split()
    return applied, int(faults)


def huge_pages_always() -> bool:
    """Transparent huge pages for every mapping: a fresh 64 MiB block then faults in 2 MiB at a time."""
    path = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return path.is_file() and "[always]" in path.read_text()


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc malloc only")
@pytest.mark.skipif(huge_pages_always(), reason="with transparent huge pages always on, page faults are not per 4 KiB")
def test_retained_memory_is_reused_without_page_faults():
    applied, kept = faults_per_fill("retain")
    _, default = faults_per_fill("default")
    pages = (64 << 20) // 4096
    assert applied == "True"
    assert default > pages // 2  # glibc's default: the block was unmapped and is faulted in again
    assert kept < pages // 20  # retained: the heap block is reused as it is
