"""Provenance of a committed reference run, and the export of a finished sweep into ``results/``.

CONTRIBUTING.md asks every committed result under ``results/`` to carry a
``provenance.json``: the command, the git commit, the parameters, the seed, the
data (checksums of real files, or a description of generated phantoms), the
wall time and the device. :func:`write_provenance` records exactly that, plus
the Python, torch and NumPy versions and the CPU model. It records no host
name, user name or absolute path.

:func:`export_run` copies the small files of a finished fold sweep
(``runs/<chapter>/<tag>/``, see :mod:`mmlib.runs.runner`) into ``results/``:
``params.json`` and each finished fold's ``metrics.json`` and ``done`` marker,
never executed notebooks, kernel logs or checkpoints. The exported folder reads
back with :func:`mmlib.runs.aggregate.read_run`. (Hand-written: no library
defines this record.)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from mmlib import atomic
from mmlib.config import REPO_ROOT
from mmlib.errors import DataError, ParameterError
from mmlib.runs.runner import DEFAULT_OUT, DONE, METRICS, fold_is_done, resolve_chapter

#: File name of the provenance record in an exported run.
PROVENANCE = "provenance.json"
#: The sweep-level file copied with the folds.
PARAMS = "params.json"


def git_state(repo: str | os.PathLike = REPO_ROOT) -> dict[str, Any]:
    """``{"commit": HEAD hash or None, "dirty": bool or None}`` of the repository at ``repo``.

    ``dirty`` is True when the code could differ from the commit: a tracked file
    is modified, or a file git does not ignore is untracked (a new module can be
    imported before it is committed). Changes under ``results/`` do not count: a
    run that rewrites committed result files has not changed the code. Without
    git, or outside a repository, both are None.
    """
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=normal", "--", ".", ":(exclude)results")
    return {"commit": commit.strip() if commit else None, "dirty": None if status is None else bool(status.strip())}


def cpu_model() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def file_checksums(files: Sequence[str | os.PathLike]) -> dict[str, str]:
    """SHA-256 of each file, keyed by its path relative to the files' common folder (no absolute paths)."""
    paths = [Path(f) for f in files]
    for path in paths:
        if not path.is_file():
            raise DataError(path, "data file for the provenance record does not exist")
    if not paths:
        return {}
    base = Path(os.path.commonpath([p.resolve().parent for p in paths]))
    checksums = {}
    for path in paths:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        checksums[path.resolve().relative_to(base).as_posix()] = digest.hexdigest()
    return checksums


def _data_record(data: Mapping[str, Any] | Sequence[str | os.PathLike]) -> dict[str, Any]:
    if isinstance(data, Mapping):
        return {"description": dict(data)}
    if isinstance(data, (str, bytes)):
        raise ParameterError("data_files_or_checksums must be a list of files or a dict, not a single string")
    return {"sha256": file_checksums(data)}


def write_provenance(
    path: str | os.PathLike,
    *,
    command: str,
    params: Mapping[str, Any],
    seed: int | None,
    data_files_or_checksums: Mapping[str, Any] | Sequence[str | os.PathLike],
    wall_time_s: float,
    device: str,
    git_at_start: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``provenance.json`` at ``path`` atomically and return the record.

    Parameters
    ----------
    command
        The shell command that regenerates the run (e.g. the ``scripts/`` file).
    params, seed
        The run's parameters and seed.
    data_files_or_checksums
        A list of the real data files read (their SHA-256 is recorded), or a dict
        that describes the data: precomputed checksums, or the phantom generator
        and its parameters.
    wall_time_s, device
        Wall time of the whole run in seconds and the device it ran on (``"cpu"``,
        ``"cuda"``); the CPU model and core count are added.
    git_at_start
        :func:`git_state` taken when the run started. A long run's tree can change
        while it runs; given this, ``"git"`` records the start state (the code that
        ran) and ``"git_at_write"`` the state now, when they differ. Without it,
        ``"git"`` is the state at writing.
    """
    if not isinstance(command, str) or not command.strip():
        raise ParameterError("command must be the non-empty command line that regenerates the run")
    if not wall_time_s >= 0:
        raise ParameterError(f"wall_time_s must be a non-negative number of seconds, got {wall_time_s!r}")
    import numpy
    import torch

    now = git_state()
    record = {
        "command": command,
        "git": dict(git_at_start) if git_at_start is not None else now,
        "params": dict(params),
        "seed": seed,
        "data": _data_record(data_files_or_checksums),
        "wall_time_s": round(float(wall_time_s), 1),
        "device": {"name": str(device), "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
                   "machine": platform.machine(), "system": platform.system()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__},
    }
    if git_at_start is not None and dict(git_at_start) != now:
        record["git_at_write"] = now
    atomic.write_json(path, record)
    return record


def export_run(
    chapter: str | os.PathLike,
    tag: str,
    out_dir: str | os.PathLike | None,
    dest: str | os.PathLike,
    *,
    command: str,
    data_files_or_checksums: Mapping[str, Any] | Sequence[str | os.PathLike],
    wall_time_s: float,
    device: str,
    git_at_start: Mapping[str, Any] | None = None,
) -> Path:
    """Copy the small files of the finished sweep ``<out_dir>/<chapter>/<tag>`` to ``dest``, with provenance.

    ``dest`` is replaced as a whole (built beside it, then renamed), so it never
    mixes two runs. The parameters and seed of the provenance record come from
    the sweep's ``params.json``. Every fold folder of the sweep must be finished:
    a partly failed sweep is not a reference run.

    Raises
    ------
    ParameterError
        When the sweep folder has no ``params.json``, no fold, or an unfinished fold.
    """
    _, name = resolve_chapter(chapter)
    run_dir = Path(out_dir or DEFAULT_OUT) / name / tag
    if not (run_dir / PARAMS).is_file():
        raise ParameterError(f"{run_dir}: no {PARAMS}; is this a sweep written by mmlib.runs.run_folds?")
    fold_dirs = sorted(run_dir.glob("fold-*"))
    unfinished = [d.name for d in fold_dirs if not fold_is_done(d)]
    if not fold_dirs or unfinished:
        raise ParameterError(f"{run_dir}: refusing to export, unfinished folds {unfinished or 'none ran'}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        shutil.copy2(run_dir / PARAMS, staging / PARAMS)
        for fold_dir in fold_dirs:
            (staging / fold_dir.name).mkdir()
            for small in (METRICS, DONE):
                shutil.copy2(fold_dir / small, staging / fold_dir.name / small)
        swept = json.loads((run_dir / PARAMS).read_text())
        params = swept.get("params", {})
        write_provenance(staging / PROVENANCE, command=command, params={"chapter": name, "tag": tag, **params},
                         seed=params.get("seed"), data_files_or_checksums=data_files_or_checksums,
                         wall_time_s=wall_time_s, device=device, git_at_start=git_at_start)
        for path in [staging, *staging.rglob("*")]:  # mkdtemp and atomic writes leave owner-only modes
            path.chmod(0o755 if path.is_dir() else 0o644)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dest


if __name__ == "__main__":  # `python -m mmlib.runs.provenance`: the git state now, as JSON (reference scripts)
    print(json.dumps(git_state()))
