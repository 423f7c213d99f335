"""The fold runner: sweeps, dask, parameter validation, resume after a kill, determinism."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmlib.errors import ParameterError
from mmlib.runs import (
    DaskExecutor,
    LocalExecutor,
    RESULT_ENV_VAR,
    aggregate,
    record_fold_result,
    run_folds,
)
from mmlib.runs.cli import main, parse_folds, parse_param
from myst_pages import myst_page

# A chapter that sleeps briefly, counts its executions in a file, and records a
# metric and predictions computed from (seed, fold).
TINY_CHAPTER = myst_page("""\

# Tiny chapter

```{code-cell} ipython3
:tags: [parameters]

seed = 0
fold = 0
n_folds = 3
sleep_s = 0.1
```

```{code-cell} ipython3
import random, time
from pathlib import Path
from mmlib.runs import record_fold_result

with open(Path("executions.log"), "a") as log:
    log.write(f"{fold}\\n")
time.sleep(sleep_s)
while Path("hold").exists():
    time.sleep(0.05)
rng = random.Random(1000 * seed + fold)
y_score = [rng.random() for _ in range(8)]
record_fold_result(
    {"score": sum(y_score) / 8, "fold_plus_seed": fold + seed},
    y_true=[0, 1] * 4,
    y_score=y_score,
    case_ids=[f"case-{fold}-{i}" for i in range(8)],
)
```
""")


@pytest.fixture
def chapter(tmp_path) -> Path:
    folder = tmp_path / "book"
    folder.mkdir()
    path = folder / "tiny.md"
    path.write_text(TINY_CHAPTER)
    return path


def executions(chapter: Path) -> list[int]:
    """Folds executed so far, in order (the chapter appends to this log in its cwd)."""
    log = chapter.parent / "executions.log"
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def test_record_fold_result_writes_only_under_the_runner(tmp_path, monkeypatch):
    monkeypatch.delenv(RESULT_ENV_VAR, raising=False)
    record = record_fold_result({"auc": 0.75}, y_true=[0, 1], y_score=[0.2, 0.9], case_ids=["a", "b"])
    assert record["metrics"] == {"auc": 0.75}
    assert record["predictions"] == {"case_id": ["a", "b"], "y_true": [0, 1], "y_score": [0.2, 0.9]}
    assert list(tmp_path.iterdir()) == []

    target = tmp_path / "fold" / "metrics.json"
    monkeypatch.setenv(RESULT_ENV_VAR, str(target))
    record_fold_result({"auc": 0.75}, y_true=[0, 1], y_score=[0.2, 0.9], case_ids=["a", "b"], extra={"epochs": 3})
    assert json.loads(target.read_text())["extra"] == {"epochs": 3}
    assert json.loads(target.read_text())["metrics"] == {"auc": 0.75}


@pytest.mark.parametrize(
    "metrics, kwargs, problem",
    [
        ({"auc": float("nan")}, {}, "finite"),
        ({"auc": "high"}, {}, "number"),
        ({}, {}, "non-empty"),
        ({"auc": 0.5}, {"y_true": [0, 1, 1], "y_score": [0.1, 0.2]}, "one entry per case"),
        ({"auc": 0.5}, {"y_true": [0, 1], "methods": {"a": {"metrics": {"auc": 1}, "y_score": [0.1]}}}, "1 scores for 2"),
        ({"auc": 0.5}, {"methods": {"a": {"y_score": [0.1]}}}, "'metrics'"),
        ({"auc": 0.5}, {"methods": {"a": {"metrics": {"psnr": 1}, "per_case": {"p": {"psnr": float("inf")}}}}}, "finite"),
        ({"auc": 0.5}, {"methods": {"a": {"metrics": {"auc": 1}}}, "extra": {"methods": {}}}, "not both"),
        ({"auc": 0.5}, {"data": "images/a.png"}, "single path"),
        ({"auc": 0.5}, {"artifacts": {"../best.pt": __file__}}, "plain file name"),
    ],
)
def test_record_fold_result_refuses_bad_records(metrics, kwargs, problem, tmp_path, monkeypatch):
    monkeypatch.setenv(RESULT_ENV_VAR, str(tmp_path / "metrics.json"))
    with pytest.raises(ParameterError, match=problem):
        record_fold_result(metrics, **kwargs)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_record_keeps_methods_per_case_scores_data_and_artifacts(tmp_path, monkeypatch):
    image = tmp_path / "data" / "ct.png"
    image.parent.mkdir()
    image.write_bytes(b"png")
    weights = tmp_path / "work" / "best.pt"
    weights.parent.mkdir()
    weights.write_bytes(b"weights")
    target = tmp_path / "fold-0" / "metrics.json"
    target.parent.mkdir()
    monkeypatch.setenv(RESULT_ENV_VAR, str(target))
    per_case = {"p1": {"psnr": 15.0}, "p2": {"psnr": 17.0}}
    record_fold_result({"psnr": 16.0}, case_ids=["p1", "p2"], methods={"sfnn-max": {"metrics": {"psnr": 16.0},
                                                                                    "per_case": per_case}},
                       data=[image], artifacts={"best.pt": weights})
    saved = json.loads(target.read_text())
    assert saved["extra"]["methods"]["sfnn-max"]["per_case"] == per_case
    assert saved["data"] == {"sha256": {"ct.png": hashlib.sha256(b"png").hexdigest()}}
    assert saved["artifacts"] == ["best.pt"] and (target.parent / "best.pt").read_bytes() == b"weights"

    (target.parent / "done").write_text("{}")
    from mmlib.runs.aggregate import read_run

    run = read_run(target.parent.parent)
    summary = run.methods["sfnn-max"].case_summary()
    assert summary.loc["psnr", "mean"] == 16.0 and summary.loc["psnr", "n"] == 2
    assert run.artifact("best.pt") == target.parent / "best.pt"


def test_cli_parsers():
    assert parse_folds("0-2") == [0, 1, 2]
    assert parse_folds("0,2") == [0, 2]
    assert parse_folds("1") == [1]
    assert parse_folds("0-1,4") == [0, 1, 4]
    with pytest.raises(ParameterError, match="--folds"):
        parse_folds("a-b")
    assert parse_param("max_epochs=5") == ("max_epochs", 5)
    assert parse_param("lr=1e-3") == ("lr", 0.001)
    assert parse_param("amp=true") == ("amp", True)
    assert parse_param("data_root=None") == ("data_root", None)
    assert parse_param("dataset=glioma-phantoms") == ("dataset", "glioma-phantoms")
    with pytest.raises(ParameterError, match="key=value"):
        parse_param("max_epochs")


def test_unknown_parameter_is_an_error_naming_it(chapter, tmp_path):
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['sede'\].*'seed'"):
        run_folds(chapter, [0], {"sede": 1}, out=tmp_path / "runs")
    with pytest.raises(ParameterError, match="out of range for n_folds=3"):
        run_folds(chapter, [3], {}, out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists(), "nothing is written for a refused sweep"
    assert executions(chapter) == []


def test_local_sweep_resume_and_aggregate(chapter, tmp_path, capsys):
    out = tmp_path / "runs"
    summary = run_folds(chapter, [0, 1, 2], {"seed": 7}, executor=LocalExecutor(max_workers=2), out=out, progress=False)
    assert [r.status for r in summary.results] == ["ran"] * 3
    assert sorted(executions(chapter)) == [0, 1, 2]
    for k in range(3):
        fold_dir = summary.run_dir / f"fold-{k}"
        assert {p.name for p in fold_dir.iterdir()} == {"executed.ipynb", "metrics.json", "done", "kernel-stderr.log"}
        executed = json.loads((fold_dir / "executed.ipynb").read_text())
        assert executed["metadata"]["papermill"]["parameters"] == {"seed": 7, "fold": k}

    agg = aggregate(chapter, out=out)
    assert list(agg.per_fold.index) == [0, 1, 2]
    assert list(agg.per_fold["fold_plus_seed"]) == [7.0, 8.0, 9.0]
    assert agg.summary.loc["fold_plus_seed", "mean"] == pytest.approx(8.0)
    assert agg.summary.loc["fold_plus_seed", "std"] == pytest.approx(1.0)
    assert agg.table().loc["fold_plus_seed", "value"] == "8.000 ± 1.000"
    assert len(agg.roc) == 3 and all(0.0 <= c["auc"] <= 1.0 for c in agg.roc)
    assert len(agg.predictions) == 24 and agg.predictions["case_id"].is_unique
    assert 0.0 <= agg.pooled_roc()["auc"] <= 1.0

    # Resume: finished folds are skipped, not executed again.
    again = run_folds(chapter, [0, 1, 2], {"seed": 7}, out=out, progress=False)
    assert [r.status for r in again.results] == ["skipped"] * 3
    assert sorted(executions(chapter)) == [0, 1, 2]
    assert again.results[1].metrics == summary.results[1].metrics

    # Same seed, fold run again from scratch: identical metrics and predictions.
    before = aggregate(chapter, out=out).predictions
    rerun = run_folds(chapter, [1], {"seed": 7}, out=out, force=True, progress=False)
    assert [r.status for r in rerun.results] == ["ran"] and executions(chapter).count(1) == 2
    assert rerun.results[0].metrics == summary.results[1].metrics
    assert aggregate(chapter, out=out).predictions.equals(before)

    # The CLI aggregates the same sweep and prints the table.
    assert main([str(chapter), "--aggregate", "--tag", summary.tag, "--out", str(out)]) == 0
    assert "8.000 ± 1.000" in capsys.readouterr().out


def test_dask_local_cluster_gives_the_chapters_metrics(chapter, tmp_path):
    summary = run_folds(
        chapter, [0, 1], {"seed": 3}, out=tmp_path / "runs",
        executor=DaskExecutor(n_workers=2, threads_per_worker=1), progress=False,
    )
    assert [r.status for r in summary.results] == ["ran", "ran"]
    for result in summary.results:  # what the chapter computes for (seed=3, fold)
        rng = random.Random(1000 * 3 + result.fold)
        assert result.metrics == {"score": pytest.approx(sum(rng.random() for _ in range(8)) / 8),
                                  "fold_plus_seed": 3.0 + result.fold}
    assert sorted(executions(chapter)) == [0, 1]


def test_tag_reused_with_other_parameters_is_refused(chapter, tmp_path):
    run_folds(chapter, [], {"seed": 1}, tag="t", out=tmp_path / "runs", progress=False)  # claims the tag only
    assert json.loads((tmp_path / "runs" / "tiny" / "t" / "params.json").read_text())["params"] == {"seed": 1}
    with pytest.raises(ParameterError, match="already holds a sweep"):
        run_folds(chapter, [0], {"seed": 2}, tag="t", out=tmp_path / "runs", progress=False)
    assert executions(chapter) == []


def test_a_killed_sweep_reruns_the_unfinished_fold_cleanly(chapter, tmp_path):
    out = tmp_path / "runs"
    hold = chapter.parent / "hold"
    hold.touch()  # the chapter waits while this file exists
    cmd = [sys.executable, "-m", "mmlib.runs", str(chapter), "--folds", "0-1", "--tag", "k", "--out", str(out),
           "--workers", "1"]  # one fold at a time: fold 0 is the one killed
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fold_dir = out / "tiny" / "k" / "fold-0"
    try:
        deadline = time.monotonic() + 60
        while executions(chapter) != [0]:  # the kernel is inside fold 0
            assert proc.poll() is None and time.monotonic() < deadline, "the sweep never reached fold 0"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner, its worker and the kernel
        proc.wait()
    assert (fold_dir / "executed.partial.ipynb").is_file(), "the killed fold left its partial notebook"
    assert not (fold_dir / "done").exists() and not (fold_dir / "executed.ipynb").exists()
    (fold_dir / "metrics.json").write_text("{half a fi")  # as if killed mid-write without atomic.py

    hold.unlink()
    summary = run_folds(chapter, [0, 1], {}, tag="k", out=out, progress=False)
    assert [r.status for r in summary.results] == ["ran", "ran"]
    assert executions(chapter) == [0, 0, 1]
    assert {p.name for p in fold_dir.iterdir()} == {"executed.ipynb", "metrics.json", "done", "kernel-stderr.log"}
    assert json.loads((fold_dir / "metrics.json").read_text())["metrics"]["fold_plus_seed"] == 0.0


def test_a_failing_fold_is_reported_with_its_notebook(tmp_path):
    path = tmp_path / "broken.md"
    path.write_text(TINY_CHAPTER.replace("import random, time", "raise RuntimeError('boom')\nimport random, time"))
    from mmlib.runs import FoldsFailed

    with pytest.raises(FoldsFailed, match="(?s)fold 0: .*boom") as info:
        run_folds(path, [0], {}, out=tmp_path / "runs", progress=False)
    fold_dir = Path(info.value.summary.results[0].fold_dir)
    assert (fold_dir / "executed.partial.ipynb").is_file() and not (fold_dir / "done").exists()


def test_tuple_parameters_reach_the_chapter_as_sequences_not_strings():
    import ast

    from papermill.translators import PythonTranslator

    from mmlib.runs.runner import papermill_value

    value = {"size": (150, 240, 240), "nested": [("a", 1)], "plain": 3}
    assert not isinstance(ast.literal_eval(PythonTranslator.translate((150, 240, 240))), (list, tuple))
    converted = papermill_value(value)
    assert converted == {"size": [150, 240, 240], "nested": [["a", 1]], "plain": 3}
    assert ast.literal_eval(PythonTranslator.translate(converted["size"])) == [150, 240, 240]


def test_fold_kernels_use_unix_sockets_not_tcp_ports(tmp_path):
    """Folds started together must not race for TCP ports (ZMQ "Address already in use")."""
    from mmlib.runs.runner import _ipc_kernel_manager

    manager = _ipc_kernel_manager(str(tmp_path))(kernel_name="python3")
    assert manager.transport == "ipc" and manager.ip == str(tmp_path / "kernel")


def test_parameter_values_are_checked_against_the_chapters_types(tmp_path):
    """-p max_epochs=ten fails at once, naming the parameter; annotations type the None defaults."""
    from mmlib.runs.runner import check_parameter_types, parameter_types
    import jupytext

    chapter = tmp_path / "typed.md"
    chapter.write_text(TINY_CHAPTER.replace("sleep_s = 0.1\n", "sleep_s = 0.1\nweights: str | None = None\n"
                                            "crop: tuple | None = None\nflag = False\n"))
    types = parameter_types(jupytext.read(chapter), chapter)
    assert types["sleep_s"] == ("float",) and types["weights"] == ("str", "None") and types["flag"] == ("bool",)
    check_parameter_types(types, {"sleep_s": 1, "weights": None, "crop": [1, 2, 3], "flag": True, "seed": 3}, "c")
    for bad, expected in (({"n_folds": "ten"}, "n_folds='ten' is a str; the chapter expects int"),
                          ({"seed": True}, "seed=True is a bool"), ({"crop": 5}, "crop=5 is a int"),
                          ({"flag": 1}, "flag=1 is a int; the chapter expects bool"),
                          ({"weights": 3.5}, "expects str | None")):
        with pytest.raises(ParameterError, match=re.escape(expected)):
            check_parameter_types(types, bad, "c")
    with pytest.raises(ParameterError, match=re.escape("typed: parameter sleep_s='long' is a str")):
        run_folds(chapter, [0], {"sleep_s": "long"}, out=tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs" / "typed").exists()  # refused before any kernel started


def test_default_is_one_single_thread_fold_per_core_and_explicit_values_win():
    from mmlib.runs.cli import default_workers_and_threads

    assert default_workers_and_threads(3, None, None, cores=2) == (2, 1)
    assert default_workers_and_threads(1, None, None, cores=2) == (1, 2)
    assert default_workers_and_threads(5, None, None, cores=16) == (5, 3)
    assert default_workers_and_threads(3, 1, None, cores=2) == (1, 2)
    assert default_workers_and_threads(3, 2, 2, cores=2) == (2, 2)


def test_threads_reach_the_fold_kernel(chapter, tmp_path):
    probe = chapter.parent / "threads.md"
    probe.write_text(TINY_CHAPTER.replace(
        "record_fold_result(\n", "import torch\nrecord_fold_result(\n").replace(
        '"fold_plus_seed": fold + seed}', '"fold_plus_seed": fold + seed, "threads": torch.get_num_threads(), '
                                          '"omp": int(os.environ["OMP_NUM_THREADS"])}').replace(
        "import random, time", "import os, random, time"))
    summary = run_folds(probe, [0], {}, out=tmp_path / "runs", progress=False, threads=1)
    assert summary.results[0].metrics["threads"] == 1 and summary.results[0].metrics["omp"] == 1
    with pytest.raises(ParameterError, match="threads"):
        run_folds(probe, [0], {}, out=tmp_path / "runs", progress=False, threads=0)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left unreaped by a container's init counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signals are Linux's")
def test_killing_the_runner_ends_its_worker_and_fold_kernel(chapter, tmp_path):
    """SIGKILL to the runner alone (not its process group): the worker and the kernel must not run on."""
    pid_file = chapter.parent / "kernel.pid"
    chapter.write_text(TINY_CHAPTER.replace('log.write(f"{fold}\\n")',
                                            'log.write(f"{fold}\\n")\nPath("kernel.pid").write_text(str(os.getpid()))')
                       .replace("import random, time", "import os, random, time"))
    (chapter.parent / "hold").touch()  # the chapter waits while this file exists
    cmd = [sys.executable, "-m", "mmlib.runs", str(chapter), "--folds", "0", "--tag", "orphans",
           "--out", str(tmp_path / "runs"), "--workers", "1"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kernel = None
    try:
        deadline = time.monotonic() + 60
        while not pid_file.is_file() or not pid_file.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, "the sweep never reached fold 0"
            time.sleep(0.1)
        kernel = int(pid_file.read_text())
        assert _alive(kernel)
        proc.kill()  # the runner only: its worker and kernel are left to notice
        proc.wait()
        deadline = time.monotonic() + 30
        while _alive(kernel) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(kernel), "the fold's kernel ran on after its runner was killed"
    finally:
        if _alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        if kernel is not None and _alive(kernel):
            os.kill(kernel, signal.SIGKILL)


def test_papermills_unknown_parameter_warning_is_dropped_for_checked_parameters(chapter, tmp_path, caplog):
    """papermill cannot parse ``x: tuple | None = None`` and calls such a parameter unknown; the runner has checked it."""
    from mmlib.runs.runner import FoldSpec, run_fold

    chapter.write_text(TINY_CHAPTER.replace("sleep_s = 0.1", "sleep_s = 0.1\nbox: tuple | None = None"))
    spec = FoldSpec(str(chapter), 0, {"box": (1, 2)}, str(tmp_path / "fold-0"))
    with caplog.at_level(logging.WARNING, logger="papermill"):
        assert run_fold(spec).status == "ran"  # in this process, where caplog sees papermill's log
    assert not [r for r in caplog.records if "unknown parameter" in r.getMessage()]
    logging.getLogger("papermill").warning("Passed unknown parameter: x")  # outside a fold: papermill's own
    assert any("unknown parameter" in r.getMessage() for r in caplog.records)
