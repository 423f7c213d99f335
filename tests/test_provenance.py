"""Provenance records and the export of a finished sweep into results/ (mmlib.runs.provenance)."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess

import numpy as np
import pytest
import torch

from mmlib.config import REPO_ROOT
from mmlib.errors import DataError, ParameterError
from mmlib.runs.aggregate import read_run
from mmlib.runs.provenance import describe_provenance, export_run, git_state, read_provenance, write_provenance
from mmlib.runs.record import file_checksums

CHAPTER = "foundations/demo-classifier"  # any existing chapter name; nothing is executed


def _fake_sweep(out, tag="t1", folds=(0, 1, 2), finished=True, data=None, artifacts=()):
    """A sweep folder as run_folds leaves it, folds recording two methods beside the top-level one."""
    run_dir = out / CHAPTER / tag
    run_dir.mkdir(parents=True)
    (run_dir / "params.json").write_text(json.dumps({"chapter": CHAPTER, "params": {"seed": 3, "max_epochs": 2}}))
    rng = np.random.default_rng(0)
    for k in folds:
        fold_dir = run_dir / f"fold-{k}"
        fold_dir.mkdir()
        y_true = [0, 1, 0, 1, 1, 0]
        scores = {m: rng.random(6).round(3).tolist() for m in ("t1ce", "ensemble")}
        record = {
            "metrics": {"auc": 0.5 + k / 10},
            "predictions": {"case_id": [f"c{k}{i}" for i in range(6)], "y_true": y_true, "y_score": scores["ensemble"]},
            "extra": {"methods": {m: {"metrics": {"auc": 0.6 + k / 10 if m == "t1ce" else 0.5 + k / 10},
                                      "y_score": s} for m, s in scores.items()}},
        }
        if data is not None:
            record["data"] = data(k) if callable(data) else data
        if artifacts:
            record["artifacts"] = list(artifacts)
        (fold_dir / "metrics.json").write_text(json.dumps(record))
        (fold_dir / "executed.ipynb").write_text("{}")
        (fold_dir / "kernel-stderr.log").write_text("log")
        torch.save({"w": torch.zeros(3)}, fold_dir / "best.pt")
        if finished or k != folds[-1]:
            (fold_dir / "done").write_text("{}")
    return run_dir


def _export(out, dest, tag="t1"):
    return export_run(CHAPTER, tag, out, dest, command="bash scripts/x.sh",
                      data_files_or_checksums={"generator": "glioma_phantoms", "n_cases": 6},
                      wall_time_s=12.34, device="cpu")


def test_git_state_matches_git():
    state = git_state()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    assert state["commit"] == head.stdout.strip()
    assert isinstance(state["dirty"], bool)


def test_git_state_outside_a_repository(tmp_path):
    assert git_state(tmp_path) == {"commit": None, "dirty": None}


def test_write_provenance_records_everything_without_host_or_paths(tmp_path):
    data = tmp_path / "data" / "sub"
    data.mkdir(parents=True)
    (data / "a.nii.gz").write_bytes(b"first")
    (tmp_path / "data" / "b.csv").write_bytes(b"second")
    path = tmp_path / "out" / "provenance.json"
    record = write_provenance(path, command="python -m mmlib.runs x", params={"lr": 1e-3}, seed=7,
                              data_files_or_checksums=[data / "a.nii.gz", tmp_path / "data" / "b.csv"],
                              wall_time_s=61.26, device="cpu")
    saved = json.loads(path.read_text())
    assert saved == record
    assert saved["command"] == "python -m mmlib.runs x" and saved["seed"] == 7 and saved["params"] == {"lr": 1e-3}
    assert saved["data"]["sha256"] == {"sub/a.nii.gz": hashlib.sha256(b"first").hexdigest(),
                                       "b.csv": hashlib.sha256(b"second").hexdigest()}
    assert saved["wall_time_s"] == 61.3
    assert saved["versions"]["torch"] == torch.__version__
    assert saved["device"]["name"] == "cpu" and saved["device"]["cpu_model"]
    text = path.read_text()
    assert str(tmp_path) not in text
    hostname = socket.gethostname()
    if len(hostname) > 3:
        assert hostname not in text


def test_data_description_is_kept_as_given(tmp_path):
    record = write_provenance(tmp_path / "p.json", command="c", params={}, seed=None,
                              data_files_or_checksums={"generator": "glioma_phantoms", "seed": 0},
                              wall_time_s=0, device="cpu")
    assert record["data"] == {"description": {"generator": "glioma_phantoms", "seed": 0}}


def test_missing_data_file_and_bad_arguments_are_refused(tmp_path):
    with pytest.raises(DataError, match="absent.nii.gz"):
        file_checksums([tmp_path / "absent.nii.gz"])
    with pytest.raises(ParameterError, match="command"):
        write_provenance(tmp_path / "p.json", command=" ", params={}, seed=0, data_files_or_checksums={},
                         wall_time_s=1, device="cpu")
    with pytest.raises(ParameterError, match="single path"):
        write_provenance(tmp_path / "p.json", command="c", params={}, seed=0, data_files_or_checksums="a.nii",
                         wall_time_s=1, device="cpu")
    with pytest.raises(ParameterError, match="exactly one"):
        write_provenance(tmp_path / "p.json", command="c", params={}, seed=0, wall_time_s=1, device="cpu")
    assert not (tmp_path / "p.json").exists()


def test_export_copies_only_small_files_and_reads_back(tmp_path):
    out, dest = tmp_path / "runs", tmp_path / "results" / "table"
    _fake_sweep(out)
    _export(out, dest)
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == ["fold-0/done", "fold-0/metrics.json", "fold-1/done", "fold-1/metrics.json",
                     "fold-2/done", "fold-2/metrics.json", "params.json", "provenance.json"]
    provenance = json.loads((dest / "provenance.json").read_text())
    assert provenance["seed"] == 3 and provenance["params"]["max_epochs"] == 2
    assert provenance["params"]["tag"] == "t1" and provenance["wall_time_s"] == 12.3

    result = read_run(dest)
    assert list(result.per_fold.index) == [0, 1, 2]
    assert set(result.methods) == {"t1ce", "ensemble"}
    assert result.methods["t1ce"].summary.loc["auc", "mean"] == pytest.approx(0.7)
    assert [c["fold"] for c in result.methods["ensemble"].roc] == [0, 1, 2]
    # the top-level predictions are the ensemble's, so its ROC curves must match the method's
    assert [c["auc"] for c in result.roc] == pytest.approx([c["auc"] for c in result.methods["ensemble"].roc])


def test_export_replaces_an_older_export(tmp_path):
    out, dest = tmp_path / "runs", tmp_path / "results" / "table"
    _fake_sweep(out, tag="a", folds=(0, 1, 2))
    _fake_sweep(out, tag="b", folds=(0, 1))
    _export(out, dest, tag="a")
    _export(out, dest, tag="b")
    assert sorted(p.name for p in dest.glob("fold-*")) == ["fold-0", "fold-1"]
    assert [p.name for p in dest.parent.iterdir()] == ["table"]  # no staging folder left behind


def test_export_refuses_unfinished_or_missing_sweeps(tmp_path):
    out = tmp_path / "runs"
    _fake_sweep(out, finished=False)
    with pytest.raises(ParameterError, match="fold-2"):
        _export(out, tmp_path / "dest")
    with pytest.raises(ParameterError, match="params.json"):
        _export(out, tmp_path / "dest", tag="nope")
    assert not (tmp_path / "dest").exists()


def test_read_run_refuses_method_scores_of_the_wrong_length(tmp_path):
    run_dir = _fake_sweep(tmp_path / "runs")
    path = run_dir / "fold-1" / "metrics.json"
    record = json.loads(path.read_text())
    record["extra"]["methods"]["t1ce"]["y_score"] = [0.5]
    path.write_text(json.dumps(record))
    with pytest.raises(DataError, match="fold-1"):
        read_run(run_dir)


def test_write_provenance_keeps_the_start_state_of_a_run_and_notes_a_later_one(tmp_path):
    start = {"commit": "0" * 40, "dirty": False}
    record = write_provenance(tmp_path / "p.json", command="c", params={}, seed=0, data_files_or_checksums={},
                              wall_time_s=1.0, device="cpu", git_at_start=start)
    assert record["git"] == start
    assert record["git_at_write"] == git_state() != start
    same = write_provenance(tmp_path / "q.json", command="c", params={}, seed=0, data_files_or_checksums={},
                            wall_time_s=1.0, device="cpu", git_at_start=git_state())
    assert "git_at_write" not in same


def test_git_state_counts_code_changes_and_new_files_but_not_results(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=a@b", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "start")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "metrics.json").write_text("{}")
    git("add", "results")
    git("-c", "user.email=a@b", "-c", "user.name=t", "commit", "-q", "-m", "results")
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "results" / "metrics.json").write_text('{"auc": 1}')  # a run rewrote a result file
    (tmp_path / "results" / "new.json").write_text("{}")
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "module.py").write_text("x = 1\n")  # new code, not yet committed
    assert git_state(tmp_path)["dirty"] is True


def test_export_takes_the_data_and_artifacts_from_the_fold_records(tmp_path):
    out, dest = tmp_path / "runs", tmp_path / "results" / "table"
    digests = {0: {"a.png": "1" * 64, "b.png": "2" * 64}, 1: {"a.png": "1" * 64, "c.png": "3" * 64},
               2: {"d.png": "4" * 64}}
    _fake_sweep(out, data=lambda k: {"sha256": digests[k]}, artifacts=("best.pt",))
    export_run(CHAPTER, "t1", out, dest, command="bash x.sh", wall_time_s=1.0, device="cpu")
    provenance = read_provenance(dest)
    assert provenance["data"] == {"sha256": {"a.png": "1" * 64, "b.png": "2" * 64, "c.png": "3" * 64,
                                             "d.png": "4" * 64}}
    assert (dest / "fold-1" / "best.pt").is_file() and not (dest / "fold-1" / "executed.ipynb").exists()
    run = read_run(dest)
    assert run.artifact("best.pt", fold=2) == dest / "fold-2" / "best.pt"
    assert run.params == {"seed": 3, "max_epochs": 2}
    shown = describe_provenance(run.provenance)
    assert shown["data"] == "4 files, SHA-256 recorded" and shown["command"] == "bash x.sh"
    assert "max_epochs=2" in shown["parameters"] and "tag" not in shown["parameters"]


def test_export_refuses_folds_that_disagree_on_their_data_or_lack_it(tmp_path):
    out = tmp_path / "runs"
    _fake_sweep(out, tag="a", data=lambda k: {"sha256": {"a.png": str(k) * 64}})
    with pytest.raises(DataError, match="a.png has another checksum"):
        export_run(CHAPTER, "a", out, tmp_path / "d", command="c", wall_time_s=1, device="cpu")
    _fake_sweep(out, tag="b", data=lambda k: {"description": {"seed": k}})
    with pytest.raises(DataError, match="describe different data"):
        export_run(CHAPTER, "b", out, tmp_path / "d", command="c", wall_time_s=1, device="cpu")
    _fake_sweep(out, tag="c")
    with pytest.raises(DataError, match="records no 'data'"):
        export_run(CHAPTER, "c", out, tmp_path / "d", command="c", wall_time_s=1, device="cpu")
    _fake_sweep(out, tag="e", data={"description": {"seed": 0}}, artifacts=("absent.pt",))
    with pytest.raises(DataError, match="absent.pt"):
        export_run(CHAPTER, "e", out, tmp_path / "d", command="c", wall_time_s=1, device="cpu")
    assert not (tmp_path / "d").exists()


def test_export_records_the_git_state_at_the_start_when_given(tmp_path):
    out, dest = tmp_path / "runs", tmp_path / "results" / "table"
    _fake_sweep(out)
    start = {"commit": "0" * 40, "dirty": False}
    export_run(CHAPTER, "t1", out, dest, command="bash x.sh", data_files_or_checksums={"generator": "g"},
               wall_time_s=1.0, device="cpu", git_at_start=start)
    provenance = json.loads((dest / "provenance.json").read_text())
    assert provenance["git"] == start and provenance["git_at_write"] != start  # both states kept


def test_a_reference_run_refuses_a_dirty_tree_unless_allowed_and_recorded(tmp_path, monkeypatch):
    from mmlib.runs.provenance import ALLOW_DIRTY_ENV_VAR, start_state

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=a@b", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "start")
    monkeypatch.delenv(ALLOW_DIRTY_ENV_VAR, raising=False)
    assert start_state(tmp_path)["dirty"] is False
    (tmp_path / "module.py").write_text("x = 1\n")
    with pytest.raises(DataError, match="uncommitted changes.*MMLIB_ALLOW_DIRTY=1"):
        start_state(tmp_path)
    monkeypatch.setenv(ALLOW_DIRTY_ENV_VAR, "1")
    assert start_state(tmp_path) == {**git_state(tmp_path), "allowed_dirty": True}


def test_each_methods_test_predictions_pool_over_folds(tmp_path):
    run = read_run(_fake_sweep(tmp_path / "runs"))
    pooled = run.methods["t1ce"].predictions
    assert len(pooled) == 18 and list(pooled.columns) == ["fold", "case_id", "y_true", "y_score"]
    assert pooled.groupby("fold")["case_id"].first().tolist() == ["c00", "c10", "c20"]
    assert 0 <= run.methods["t1ce"].pooled_roc()["auc"] <= 1
