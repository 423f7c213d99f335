"""Each configuration of a benchmark measured in a fresh subprocess of the same script, so that its peak memory is
its own: the script's arguments, the subprocess call and the timing loop the worker runs.

Shared by ``guidance_speed.py``, ``m3_speed.py`` and ``masan_speed.py`` (run as
scripts from the repository root, so this folder is on ``sys.path``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import torch


def benchmark_arguments(argv, doc: str, quick_help: str, timeout: float) -> argparse.Namespace:
    """Parse ``--quick``, ``--timeout`` (seconds per configuration) and the hidden ``--worker`` (one configuration
    as JSON); the description is the first line of the script's ``doc``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=timeout, help="seconds allowed per configuration")
    return parser.parse_args(argv)


def serve_worker(spec: str, worker: Callable[[dict], dict]) -> None:
    """Run ``worker`` on the JSON configuration ``spec`` and print its measurements as one JSON line."""
    print(json.dumps(worker(json.loads(spec))))


def run_worker(script: str, cfg: dict, timeout: float, one_thread: bool = False) -> dict:
    """Run ``script --worker cfg`` in a fresh Python and return its measurements (its last stdout line), or
    ``{"error": ...}`` on a timeout or a failure. ``one_thread`` caps OpenMP, MKL and OpenBLAS at one thread."""
    cmd = [sys.executable, os.path.abspath(script), "--worker", json.dumps(cfg)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"} \
        if one_thread else None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def seconds_per_step(step: Callable[[], None], warmup: int, steps: int, precision: str) -> float:
    """Mean wall time of ``step()`` over ``steps`` calls after ``warmup`` untimed ones, all under bf16 autocast when
    ``precision`` is ``"bf16"``."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        for _ in range(warmup):
            step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - start) / steps
