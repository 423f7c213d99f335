"""Provenance of a committed reference run, and the export of a finished sweep into ``results/``.

CONTRIBUTING.md asks every committed result under ``results/`` to carry a
``provenance.json``: the command, the git commit, the parameters, the seed, the
data (checksums of real files, or a description of generated phantoms), the
wall time and the device. :func:`write_provenance` records exactly that, plus
the Python, torch and NumPy versions and the CPU model. It records no host
name, user name or absolute path.

:func:`export_run` copies the small files of a finished fold sweep
(``runs/<chapter>/<tag>/``, see :mod:`mmlib.runs.runner`) into ``results/``:
``params.json`` and each finished fold's ``metrics.json``, ``done`` marker and
the artifacts its record lists (a checkpoint, a split), never executed
notebooks or kernel logs. The exported folder reads back with
:func:`mmlib.runs.aggregate.read_run`; :func:`read_provenance` and
:func:`describe_provenance` are the one way chapters read and show the record.
(Hand-written: no library defines this record.)
"""

from __future__ import annotations

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
from mmlib.runs.record import data_record
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


def write_provenance(
    path: str | os.PathLike,
    *,
    command: str,
    params: Mapping[str, Any],
    seed: int | None,
    data_files_or_checksums: Mapping[str, Any] | Sequence[str | os.PathLike] | None = None,
    wall_time_s: float,
    device: str,
    git_at_start: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
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
    data
        Instead of ``data_files_or_checksums``: a record already built by
        :func:`mmlib.runs.record.data_record` (``{"sha256": ...}`` or ``{"description": ...}``).
    wall_time_s, device
        Wall time of the whole run in seconds and the device it ran on (``"cpu"``,
        ``"cuda"``); the CPU model and core count are added.
    git_at_start
        :func:`git_state` taken when the run started. A long run's tree can change
        while it runs; given this, ``"git"`` records the start state (the code that
        ran) and ``"git_at_write"`` the state now, when they differ. Without it,
        ``"git"`` is the state at writing.
    """
    if (data is None) == (data_files_or_checksums is None):
        raise ParameterError("give exactly one of data_files_or_checksums and data")
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
        "data": dict(data) if data is not None else data_record(data_files_or_checksums),
        "wall_time_s": round(float(wall_time_s), 1),
        "device": {"name": str(device), "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
                   "machine": platform.machine(), "system": platform.system()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__},
    }
    if git_at_start is not None and dict(git_at_start) != now:
        record["git_at_write"] = now
    atomic.write_json(path, record)
    return record


def fold_data_record(fold_dirs: Sequence[Path]) -> dict[str, Any]:
    """The ``data`` of the folds' records merged: every file's checksum, or their one shared description.

    Folds that read different files (a fold's own test images) merge into one
    checksum table; a file read by two folds must have one checksum. Folds that
    describe generated data must describe the same data.
    """
    records = []
    for fold_dir in fold_dirs:
        record = json.loads((fold_dir / METRICS).read_text())
        if "data" not in record:
            raise DataError(fold_dir / METRICS, "records no 'data' (pass data=... to record_fold_result, or give the "
                                                "data to export_run)")
        records.append(record["data"])
    if all("sha256" in r for r in records):
        merged: dict[str, str] = {}
        for fold_dir, record in zip(fold_dirs, records):
            for name, digest in record["sha256"].items():
                if merged.setdefault(name, digest) != digest:
                    raise DataError(fold_dir / METRICS, f"{name} has another checksum than in an earlier fold")
        return {"sha256": dict(sorted(merged.items()))}
    if any(r != records[0] for r in records):
        raise DataError(fold_dirs[-1] / METRICS, "the folds describe different data; not one run")
    return records[0]


def export_run(
    chapter: str | os.PathLike,
    tag: str,
    out_dir: str | os.PathLike | None,
    dest: str | os.PathLike,
    *,
    command: str,
    wall_time_s: float,
    device: str,
    data_files_or_checksums: Mapping[str, Any] | Sequence[str | os.PathLike] | None = None,
    git_at_start: Mapping[str, Any] | None = None,
) -> Path:
    """Copy the small files of the finished sweep ``<out_dir>/<chapter>/<tag>`` to ``dest``, with provenance.

    Per fold, ``metrics.json``, ``done`` and the artifacts its record lists
    (:func:`mmlib.runs.record.record_fold_result`); never executed notebooks or
    kernel logs. The parameters and seed of the provenance record come from the
    sweep's ``params.json``, the data from the folds' records
    (:func:`fold_data_record`) unless ``data_files_or_checksums`` is given. Every
    fold folder of the sweep must be finished: a partly failed sweep is not a
    reference run. The folder is written by :func:`write_run`.

    Raises
    ------
    ParameterError
        When the sweep folder has no ``params.json``, no fold, or an unfinished fold.
    DataError
        When a fold's record lacks its data description or an artifact it lists.
    """
    _, name = resolve_chapter(chapter)
    run_dir = Path(out_dir or DEFAULT_OUT) / name / tag
    if not (run_dir / PARAMS).is_file():
        raise ParameterError(f"{run_dir}: no {PARAMS}; is this a sweep written by mmlib.runs.run_folds?")
    fold_dirs = sorted(run_dir.glob("fold-*"))
    unfinished = [d.name for d in fold_dirs if not fold_is_done(d)]
    if not fold_dirs or unfinished:
        raise ParameterError(f"{run_dir}: refusing to export, unfinished folds {unfinished or 'none ran'}")
    data = data_record(data_files_or_checksums) if data_files_or_checksums is not None else fold_data_record(fold_dirs)
    records, files = {}, {}
    for fold_dir in fold_dirs:
        fold = int(fold_dir.name.split("-", 1)[1])
        records[fold] = json.loads((fold_dir / METRICS).read_text())
        files[fold] = {small: fold_dir / small for small in records[fold].get("artifacts", [])}
    params = json.loads((run_dir / PARAMS).read_text()).get("params", {})
    return write_run(dest, chapter=name, tag=tag, params=params, records=records, fold_files=files, command=command,
                     wall_time_s=wall_time_s, device=device, data=data, git_at_start=git_at_start)


def write_run(
    dest: str | os.PathLike,
    *,
    chapter: str,
    tag: str,
    params: Mapping[str, Any],
    records: Mapping[int, Mapping[str, Any]],
    command: str,
    wall_time_s: float,
    device: str,
    data: Mapping[str, Any],
    fold_files: Mapping[int, Mapping[str, str | os.PathLike]] | None = None,
    git_at_start: Mapping[str, Any] | None = None,
) -> Path:
    """Write a finished run in the book's results layout at ``dest``, with provenance.

    ``dest/params.json``, ``dest/provenance.json`` and per fold
    ``dest/fold-<k>/metrics.json`` (``records[k]``), a ``done`` marker (the
    chapter's name and the fold: no host name or absolute path, unlike the
    runner's own marker), and the files ``fold_files[k]`` (``{name: source}``). :func:`export_run` writes a
    fold sweep this way; scripts that score without the fold runner (the
    untrained rows of DILRAN's Table 2) call it directly, so every run reads
    back with :func:`mmlib.runs.aggregate.read_run`. ``dest`` is replaced as a
    whole (built beside it, then renamed), so it never mixes two runs.
    """
    if not records:
        raise ParameterError(f"{dest}: a run needs at least one fold record")
    for fold, record in records.items():
        if DONE in (fold_files or {}).get(fold, {}):
            raise ParameterError(f"{dest}: fold {fold}: the {DONE} marker is written here, not copied")
        listed = set(record.get("artifacts", []))
        given = set((fold_files or {}).get(fold, {}))
        if listed != given:
            raise ParameterError(f"{dest}: fold {fold} lists artifacts {sorted(listed)} but {sorted(given)} were given")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        atomic.write_json(staging / PARAMS, {"chapter": chapter, "params": dict(params)})
        for fold, record in sorted(records.items()):
            fold_dir = staging / f"fold-{fold}"
            fold_dir.mkdir()
            atomic.write_json(fold_dir / METRICS, dict(record))
            files = dict((fold_files or {}).get(fold, {}))
            for name, source in files.items():
                if not Path(source).is_file():
                    raise DataError(source, "listed in the fold's record but missing")
                shutil.copy2(source, fold_dir / name)
            atomic.write_json(fold_dir / DONE, {"chapter": chapter, "fold": fold})
        write_provenance(staging / PROVENANCE, command=command, params={"chapter": chapter, "tag": tag, **params},
                         seed=params.get("seed"), data=data, wall_time_s=wall_time_s, device=device,
                         git_at_start=git_at_start)
        for path in [staging, *staging.rglob("*")]:  # mkdtemp and atomic writes leave owner-only modes
            path.chmod(0o755 if path.is_dir() else 0o644)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dest


def read_provenance(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``provenance.json`` of an exported run, checked for the fields every record has."""
    path = Path(run_dir) / PROVENANCE
    if not path.is_file():
        raise DataError(path, "missing: an exported run needs its provenance record")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON ({exc})") from None
    missing = [k for k in ("command", "git", "params", "data", "wall_time_s", "device") if k not in record]
    if missing:
        raise DataError(path, f"lacks {missing}")
    return record


def describe_provenance(record: Mapping[str, Any]) -> dict[str, str]:
    """One provenance record as short display strings (the rows of a results chapter's provenance table)."""
    git, device, data = record["git"], record["device"], record["data"]
    state = "unknown" if git.get("dirty") is None else ("with uncommitted changes" if git["dirty"] else "clean")
    if "sha256" in data:
        shown_data = f"{len(data['sha256'])} files, SHA-256 recorded"
    else:
        shown_data = ", ".join(f"{k}={v}" for k, v in data.get("description", {}).items()) or "—"
    params = {k: v for k, v in record["params"].items() if k not in ("chapter", "tag")}
    return {
        "command": record["command"],
        "git commit": f"{(git.get('commit') or '?')[:10]} ({state})",
        "wall time": f"{record['wall_time_s'] / 60:.1f} min",
        "device": f"{device.get('name', '?')}: {device.get('cpu_model', '?')}, {device.get('cpu_count', '?')} cores",
        "versions": ", ".join(f"{k} {v}" for k, v in record.get("versions", {}).items()),
        "data": shown_data,
        "parameters": ", ".join(f"{k}={v}" for k, v in sorted(params.items())),
    }


#: Environment variable that lets a reference run start from a tree with uncommitted changes.
ALLOW_DIRTY_ENV_VAR = "MMLIB_ALLOW_DIRTY"


def start_state(repo: str | os.PathLike = REPO_ROOT) -> dict[str, Any]:
    """The git state a reference run starts from; a tree with uncommitted changes is refused.

    With ``$MMLIB_ALLOW_DIRTY=1`` a dirty tree is accepted and the state says so
    (``"allowed_dirty": true``), so the run's provenance records the choice.

    Raises
    ------
    DataError
        When the tree is dirty (or its state unknown) and the override is not set.
    """
    state = git_state(repo)
    if state["dirty"] is False:
        return state
    if os.environ.get(ALLOW_DIRTY_ENV_VAR) == "1":
        return {**state, "allowed_dirty": True}
    problem = "has uncommitted changes" if state["dirty"] else "has no readable git state"
    raise DataError(repo, f"{problem}: a reference run records the commit that ran, so commit first "
                          f"(or set {ALLOW_DIRTY_ENV_VAR}=1 to run anyway; the provenance will say so)")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mmlib.runs.provenance [--require-clean]``: the git state now, as JSON (reference scripts)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m mmlib.runs.provenance", description=main.__doc__)
    parser.add_argument("--require-clean", action="store_true",
                        help=f"refuse a tree with uncommitted changes unless {ALLOW_DIRTY_ENV_VAR}=1")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(start_state() if args.require_clean else git_state()))
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
