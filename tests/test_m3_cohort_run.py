"""The fold chapter runs on a user's own NIfTI cohort by parameters only (issue 13, "Done when")."""

from __future__ import annotations

import pytest

from mmlib.data.phantoms import glioma_phantoms
from mmlib.papers.m3.protocol import PRIMARY
from mmlib.runs.aggregate import read_run
from mmlib.runs.provenance import export_run


@pytest.mark.slow
def test_the_fold_chapter_on_a_nifti_cohort_from_a_manifest(tmp_path, monkeypatch):
    """Phantoms written as NIfTI files plus a manifest CSV, through the fold runner (about 40 s).

    Without a checkpoint_dir the chapter keeps its networks in a temporary folder, which
    must be gone once the kernel has exited (every test run and book build would
    otherwise leave its networks behind).
    """
    from mmlib.runs import run_folds

    cohort = glioma_phantoms(n_cases=20, shape=(24, 32, 24), task="glioma_vs_metastasis", class_ratio=0.4, seed=3)
    folder = cohort.to_nifti(tmp_path / "data" / "my-cohort", layout="flat")
    rows = ["case_id,label,t1ce,t2,flair,mask"]
    rows += [f"{c},{int(y)},{c}/{c}_t1ce.nii.gz,{c}/{c}_t2.nii.gz,{c}/{c}_flair.nii.gz,{c}/{c}_seg.nii.gz"
             for c, y in zip(cohort.case_ids, cohort.labels)]
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    params = dict(data_root=str(tmp_path / "data"), dataset="manifest", task="tumour", manifest="my-cohort/manifest.csv",
                  n_folds=4, max_epochs=1, width=0.125, spatial_size=[16, 24, 16], fit_mode="resize", device="cpu",
                  checkpoint_dir=None)
    kernel_tmp = tmp_path / "kernel-tmp"
    kernel_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(kernel_tmp))  # read by the kernel's fresh interpreter
    summary = run_folds("m3/fold", folds=[0], params=params, tag="cohort", out=tmp_path / "runs", progress=False,
                        threads=1)
    assert not summary.failed, summary.failed[0].error if summary.failed else ""
    assert not list(kernel_tmp.glob("m3-*"))
    run = read_run(export_run("m3/fold", "cohort", tmp_path / "runs", tmp_path / "results", command="test",
                              wall_time_s=1.0, device="cpu"))
    record = run.records[0]
    assert record["extra"]["dataset"] == "manifest" and PRIMARY in run.methods and "ceiling" not in run.methods
    assert len(run.provenance["data"]["sha256"]) == 20 * 4  # every file the fold read, checksummed
    assert set(record["extra"]["dice"]) == {"t1ce", "t2", "flair"}
