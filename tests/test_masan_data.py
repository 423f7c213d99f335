"""MASAN's inputs and their bad-input handling (mmlib.papers.masan.data and the split checks)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from mmlib.data.phantoms import alzheimer_phantoms
from mmlib.errors import DataError, ParameterError
from mmlib.papers.masan import protocol
from mmlib.papers.masan.data import (manifest_cohort, oasis_arrays, phantom_cohort, prepare_fmri, prepare_t1,
                                     read_manifest, region_windows, task_subset)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Four paired phantoms written as NIfTI (flat layout) and a manifest naming them."""
    folder = tmp_path_factory.mktemp("pairs")
    cohort = alzheimer_phantoms(n_cases=4, t1_shape=(16, 20, 16), fmri_shape=(8, 12, 8), n_timepoints=20, seed=0)
    cohort.to_nifti(folder)
    rows = [{"subject": c, "label": cohort.class_names[k], "t1": f"{c}/{c}_t1.nii.gz", "fmri": f"{c}/{c}_fmri.nii.gz"}
            for c, k in zip(cohort.case_ids, cohort.labels)]
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder, cohort, rows


def write(folder, rows, name="bad.csv"):
    pd.DataFrame(rows).to_csv(folder / name, index=False)
    return folder / name


def test_a_manifest_cohort_reads_like_the_phantoms(exported):
    folder, cohort, _ = exported
    paired = manifest_cohort(folder / "manifest.csv", window=16, grid=(4, 4, 4))
    assert paired.t1.shape == (4, 1, 16, 20, 16) and paired.fmri.shape == (4, 16, 8, 12, 8)
    assert paired.classes == [cohort.class_names[k] for k in cohort.labels]
    assert len(paired.files) == 1 + 8  # the manifest (it holds the labels) and every NIfTI
    assert np.allclose(paired.t1[1, 0], prepare_t1(cohort.images["t1"][1], "x"))
    resized = manifest_cohort(folder / "manifest.csv", window=16, t1_shape=(24, 24, 24), fmri_shape=(10, 10, 10))
    assert resized.t1.shape == (4, 1, 24, 24, 24) and resized.fmri.shape == (4, 16, 12, 12, 12)  # 10 padded to 12
    by_runner = protocol.load_paired("manifest", data_root=folder, manifest="manifest.csv", n_cases=0, t1_shape=None,
                                     fmri_shape=None, n_timepoints=0, window=16, difficulty=0.0)
    assert by_runner.case_ids == paired.case_ids


def test_a_run_shorter_than_the_window_names_the_subject(exported):
    folder, _, _ = exported
    with pytest.raises(DataError, match=r"subject adni-0000 .*20 time points, fewer than the model's window of 32"):
        manifest_cohort(folder / "manifest.csv", window=32)
    with pytest.raises(DataError, match="fewer than the model's window"):
        prepare_fmri(np.ones((5, 2, 2, 2)), 8, "subject s1")


def test_t1_and_fmri_of_different_subjects_or_missing_ones_are_refused(exported):
    folder, _, rows = exported
    swapped = [dict(r) for r in rows]
    swapped[0]["fmri"], swapped[1]["fmri"] = rows[1]["fmri"], rows[0]["fmri"]
    with pytest.raises(DataError, match="subject adni-0000 does not carry that id"):
        read_manifest(write(folder, swapped))
    assert len(read_manifest(write(folder, swapped), check_names=False)) == 4  # documented escape hatch
    no_fmri = [dict(r) for r in rows]
    no_fmri[2]["fmri"] = ""
    with pytest.raises(DataError, match="subject adni-0002 has no fmri file"):
        read_manifest(write(folder, no_fmri))
    gone = [dict(r) for r in rows]
    gone[3]["t1"] = "nowhere/adni-0003_t1.nii.gz"
    with pytest.raises(DataError, match="subject adni-0003: t1 file does not exist"):
        read_manifest(write(folder, gone))
    with pytest.raises(DataError, match="listed more than once"):
        read_manifest(write(folder, rows + rows[:1]))
    with pytest.raises(DataError, match="label 'FTD'"):
        read_manifest(write(folder, [{**rows[0], "label": "FTD"}]))
    with pytest.raises(DataError, match="missing column"):
        read_manifest(write(folder, [{k: v for k, v in rows[0].items() if k != "fmri"}]))
    shutil.copy(folder / rows[0]["t1"], folder / "adni-0000_3d_fmri.nii.gz")
    with pytest.raises(DataError, match="subject adni-0000: fMRI has shape .* expected a 4-D run"):
        manifest_cohort(write(folder, [{**rows[0], "fmri": "adni-0000_3d_fmri.nii.gz"}]), window=4)


def test_nan_volumes_and_silent_series_raise():
    with pytest.raises(DataError, match="subject s2: .*2 NaN/inf"):
        prepare_fmri(np.where(np.arange(40).reshape(10, 2, 2) < 2, np.nan, 1.0), 4, "subject s2")
    with pytest.raises(DataError, match="no voxel whose signal varies"):
        prepare_fmri(np.ones((10, 2, 2, 2)), 4, "subject s3")
    with pytest.raises(DataError, match="NaN/inf voxels"):
        prepare_t1(np.full((4, 4, 4), np.nan), "subject s4")
    with pytest.raises(DataError, match="3-D"):
        prepare_t1(np.ones((4, 4)), "subject s5")


def test_fmri_preparation_detrends_and_scales():
    t = np.arange(40, dtype=float)
    rng = np.random.default_rng(0)
    series = 100 + 0.5 * t[:, None, None, None] + rng.standard_normal((40, 2, 2, 2))
    out = prepare_fmri(series, 30, "s")
    assert out.shape == (30, 2, 2, 2) and abs(out.std() - 1) < 1e-5
    assert np.abs(np.polyfit(np.arange(30), out.reshape(30, -1), 1)[0]).max() < 1e-6  # no linear trend left


def test_region_windows_zero_constant_regions_and_name_bad_subjects():
    rng = np.random.default_rng(0)
    series = [rng.standard_normal((80, 3)), rng.standard_normal((90, 3))]
    series[1][:, 2] = 0.0  # a region outside the field of view
    windows, constant = region_windows(series, 64, ["a", "b"])
    assert windows.shape == (2, 3, 64) and constant.tolist() == [0, 1]
    assert np.all(windows[1, 2] == 0) and np.allclose(windows[0].std(axis=1), 1.0)
    with pytest.raises(DataError, match="subject b: run has 50 time points"):
        region_windows([series[0], series[1][:50]], 64, ["a", "b"])
    bad = series[0].copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match="subject a: 1 NaN"):
        region_windows([bad], 64, ["a"])


def test_tasks_and_a_class_absent_from_a_split():
    classes = ["NC", "MCI", "AD", "AD", "NC"]
    index, labels = task_subset(classes, "ad-vs-nc")
    assert index.tolist() == [0, 2, 3, 4] and labels.tolist() == [0, 1, 1, 0]
    assert task_subset(classes, "ad-vs-rest")[1].tolist() == [0, 0, 1, 1, 0]
    with pytest.raises(ParameterError):
        task_subset(classes, "mci-vs-nc")
    split = protocol.Split(3, np.array([0, 1]), np.array([2, 3]))
    with pytest.raises(DataError, match="repetition 3: the test side holds class"):
        protocol.check_split_classes([0, 1, 1, 1], split)
    with pytest.raises(DataError, match="stratum 'x' has 1 subject"):
        protocol.repeated_split(["a", "a", "b", "b", "x"], 0)


def test_phantom_cohort_keeps_the_paper_shares_and_the_generator_parameters():
    cohort = phantom_cohort(n_cases=20, t1_shape=(16, 20, 16), fmri_shape=(8, 12, 8), n_timepoints=20, window=16, seed=0)
    assert cohort.class_counts() == {"NC": 6, "MCI": 7, "AD": 7}  # 64 : 70 : 72
    assert {"hippocampal_atrophy", "dmn_coupling"} <= set(cohort.metadata.columns)
    assert cohort.t1.shape == (20, 1, 16, 20, 16) and cohort.fmri.shape == (20, 16, 8, 12, 8)
    assert cohort.source["generator"].endswith("alzheimer_phantoms")


def test_oasis_slices_become_three_channels_per_subject(real_data_root):
    from mmlib.data.oasis import load_oasis_slices

    table = load_oasis_slices(real_data_root("oasis1-slices")).head(3)
    images = oasis_arrays(table, size=32)
    assert images.shape == (3, 3, 32, 32) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.std() > 0.05


@pytest.mark.slow
def test_the_fold_chapter_runs_on_a_nifti_manifest_by_parameters_only(exported, tmp_path):
    """book/masan/masan-model.md through the fold runner on a user's paired NIfTI cohort (about 30 s)."""
    from mmlib.runs import run_folds
    from mmlib.runs.aggregate import read_run

    folder, cohort, rows = exported
    more = alzheimer_phantoms(n_cases=12, t1_shape=(16, 20, 16), fmri_shape=(8, 12, 8), n_timepoints=20, seed=5)
    more.case_ids = [c.replace("adni", "user") for c in more.case_ids]
    more.to_nifti(folder)
    table = pd.DataFrame(rows + [{"subject": c, "label": more.class_names[k], "t1": f"{c}/{c}_t1.nii.gz",
                                  "fmri": f"{c}/{c}_fmri.nii.gz"} for c, k in zip(more.case_ids, more.labels)])
    table.to_csv(folder / "cohort.csv", index=False)
    params = dict(dataset="manifest", data_root=str(folder), manifest="cohort.csv", t1_shape=None, fmri_shape=None,
                  window=16, pretrain_epochs=1, max_epochs=1, hfcn_epochs=1, device="cpu")
    run_folds("masan/masan-model", folds=[0], params=params, tag="manifest", out=tmp_path / "runs", progress=False,
              threads=1)
    run = read_run(tmp_path / "runs" / "masan" / "masan-model" / "manifest")
    record = run.records[0]
    assert set(run.methods) == {"masan", "hfcn"}  # no ceiling: real data has no generating parameters
    assert len(record["data"]["sha256"]) == 1 + 2 * len(table)  # the manifest (labels) and every NIfTI, by checksum
    assert record["extra"]["n_train"] + record["extra"]["n_test"] == len(table)
    assert "share_ad" not in record["extra"]["fusion_weights"]  # no known atrophy on a user's cohort
