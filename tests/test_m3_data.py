"""M3's data: the two tasks' cohorts, a user's NIfTI manifest, the volumes and every bad input of the issue."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from mmlib.errors import DataError, ParameterError
from mmlib.papers.m3 import protocol
from mmlib.papers.m3.cohorts import TASKS, Cohort, m3_cases, manifest_cases
from mmlib.papers.m3.volumes import M3Volumes, make_loader

SHAPE = (16, 20, 16)


def test_tumour_phantoms_follow_table_1_and_stroke_phantoms_table_2():
    tumour = m3_cases("tumour-phantoms", n_cases=40, shape=SHAPE, seed=0)
    assert tumour.task.modalities == ("t1ce", "t2", "flair")
    assert int(tumour.labels.sum()) == round(40 * 132 / 544)  # metastases
    assert list(tumour.ceiling_features.columns)[:2] == ["radius_mm", "irregularity"]
    stroke = m3_cases("stroke-phantoms", n_cases=71, shape=SHAPE, seed=0)
    assert stroke.task.modalities == ("adc", "cbf", "cbv", "mtt", "ttp") and int(stroke.labels.sum()) == 11
    assert set(stroke.cases[0]) >= {"case_id", "label", "group", "adc", "ttp", "seg"}
    assert stroke.data["generator"].startswith("mmlib.data.phantoms.stroke_phantoms")


def test_unknown_datasets_tasks_and_modalities():
    with pytest.raises(ParameterError, match="not known"):
        m3_cases("brats2018")
    with pytest.raises(ParameterError, match="subset"):
        m3_cases("tumour-phantoms", modalities=("t1",), n_cases=10, shape=SHAPE)
    with pytest.raises(ParameterError, match="needs manifest"):
        m3_cases("manifest", task="tumour")
    with pytest.raises(ParameterError, match="task"):
        m3_cases("manifest", manifest="x.csv")


def _write(path, array, affine=np.eye(4)):
    nib.save(nib.Nifti1Image(np.asarray(array), affine), path)
    return path


def _cohort_on_disk(tmp_path, n=4, mask_of=None, affine_of=None):
    rows = ["case_id,label,t1ce,t2,flair,mask"]
    rng = np.random.default_rng(0)
    for i in range(n):
        mask = np.zeros(SHAPE, np.uint8)
        mask[6:10, 8:12, 6:10] = 4
        mask = mask_of(i, mask) if mask_of else mask
        for m in ("t1ce", "t2", "flair"):
            affine = affine_of(i, m) if affine_of else np.eye(4)
            _write(tmp_path / f"c{i}_{m}.nii.gz", rng.random(SHAPE).astype(np.float32), affine)
        _write(tmp_path / f"c{i}_seg.nii.gz", mask)
        rows.append(f"c{i},{i % 2},c{i}_t1ce.nii.gz,c{i}_t2.nii.gz,c{i}_flair.nii.gz,c{i}_seg.nii.gz")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "manifest.csv"


def test_a_user_cohort_runs_from_its_manifest(tmp_path):
    csv = _cohort_on_disk(tmp_path)
    cohort = m3_cases("manifest", tmp_path, manifest="manifest.csv", task="tumour")
    assert [c["class_name"] for c in cohort.cases] == ["glioma", "metastasis"] * 2
    assert all(str(p).endswith("manifest.csv") for p in [cohort.settings["manifest"]])
    volumes = M3Volumes(cohort.cases, modalities=("t1ce", "t2"), foreground=(1, 2, 4), train=False,
                        spatial_size=(8, 12, 8), fit="resize")
    batch = next(iter(make_loader(volumes, batch_size=2)))
    assert batch["t1ce"].shape == (2, 1, 8, 12, 8) and batch["seg"].dtype.is_floating_point is False
    assert set(np.unique(batch["seg"].numpy())) <= {0, 1}
    assert csv.is_file()


def test_a_manifest_row_pointing_at_a_missing_file_names_the_case(tmp_path):
    csv = _cohort_on_disk(tmp_path)
    (tmp_path / "c2_t2.nii.gz").unlink()
    with pytest.raises(DataError, match="case c2: the 't2' file named in manifest.csv does not exist"):
        manifest_cases(csv, ("t1ce", "t2", "flair"))


def test_bad_manifest_rows(tmp_path):
    csv = _cohort_on_disk(tmp_path)
    text = csv.read_text()
    csv.write_text(text.replace("c1,1,", "c1,HT,"))
    with pytest.raises(DataError, match="case c1.*label is 'HT'"):
        manifest_cases(csv, ("t1ce",))
    csv.write_text(text.replace("c1,1,", "c0,1,"))
    with pytest.raises(DataError, match=r"more than once: \['c0'\]"):
        manifest_cases(csv, ("t1ce",))
    with pytest.raises(DataError, match=r"missing column\(s\) \['adc'\]"):
        manifest_cases(_cohort_on_disk(tmp_path), ("adc",))
    with pytest.raises(DataError, match="does not exist"):
        manifest_cases(tmp_path / "none.csv", ("t1ce",))


def test_an_empty_or_missing_mask_names_the_case(tmp_path):
    def empty_for_c1(i, mask):
        return np.zeros_like(mask) if i == 1 else mask

    cases = manifest_cases(_cohort_on_disk(tmp_path, mask_of=empty_for_c1), ("t1ce",))
    with pytest.raises(DataError, match="case c1.*lesion mask is empty"):
        M3Volumes(cases, modalities=("t1ce",), foreground=(1, 2, 4), train=False)
    # the smoke run needs no mask: the same cases load without one
    assert len(M3Volumes(cases, modalities=("t1ce",), foreground=(1, 2, 4), train=False, with_seg=False)) == 4
    phantoms = m3_cases("tumour-phantoms", n_cases=6, shape=SHAPE, seed=0).cases
    phantoms[3] = {**phantoms[3], "seg": None}
    with pytest.raises(DataError, match=f"case {phantoms[3]['case_id']}.*no lesion mask"):
        M3Volumes(phantoms, modalities=("t1ce",), foreground=(1, 2, 4), train=False)
    phantoms[3] = {**phantoms[3], "seg": np.zeros(SHAPE, np.uint8)}
    with pytest.raises(DataError, match="lesion mask is empty"):
        M3Volumes(phantoms, modalities=("t1ce",), foreground=(1, 2, 4), train=False)


def test_modalities_on_different_grids_name_the_case(tmp_path):
    def shifted(i, m):
        affine = np.eye(4)
        if i == 2 and m == "flair":
            affine[0, 0] = 2.0
        return affine

    cases = manifest_cases(_cohort_on_disk(tmp_path, affine_of=shifted), ("t1ce", "flair"))
    with pytest.raises(DataError, match="case c2: modalities on different grids: 'flair'"):
        M3Volumes(cases, modalities=("t1ce", "flair"), foreground=(4,), train=False)
    phantoms = m3_cases("tumour-phantoms", n_cases=6, shape=SHAPE, seed=0).cases
    phantoms[1] = {**phantoms[1], "t2": phantoms[1]["t2"][:-1]}
    with pytest.raises(DataError, match=f"case {phantoms[1]['case_id']}: modalities on different grids"):
        M3Volumes(phantoms, modalities=("t1ce", "t2"), foreground=(1, 2, 4), train=False)


def test_volumes_are_in_model_order_with_a_binary_lesion_mask():
    cohort = m3_cases("stroke-phantoms", n_cases=8, shape=SHAPE, seed=0)
    volumes = M3Volumes(cohort.cases, modalities=("adc", "cbf"), foreground=TASKS["ht"].foreground, train=True,
                        augment="flip")
    item = volumes[0]
    assert item["adc"].shape == (1, SHAPE[2], SHAPE[1], SHAPE[0])  # (C, z, y, x)
    assert 0.0 <= float(item["cbf"].min()) and float(item["cbf"].max()) <= 1.0
    expected = np.isin(cohort.cases[0]["seg"], (1, 2)).sum()
    assert int(M3Volumes(cohort.cases[:1], modalities=("adc",), foreground=(1, 2), train=False)[0]["seg"].sum()) == expected
    with pytest.raises(ParameterError, match="augment"):
        M3Volumes(cohort.cases, modalities=("adc",), foreground=(1,), train=True, augment="heavy")


def test_a_fold_without_both_classes_is_refused():
    cases = [{"case_id": f"c{i}", "label": int(i < 3), "group": f"c{i}"} for i in range(20)]
    with pytest.raises(ParameterError, match="n_folds=5 is larger than the 3 patients of class 1"):
        protocol.fold_split(cases, 0, 5, seed=0)
    # enough patients for the outer folds (5 of class 1), too few left for the validation carve-out (4 < 1/0.2)
    cases = [{"case_id": f"c{i}", "label": int(i < 5), "group": f"c{i}"} for i in range(25)]
    with pytest.raises(ParameterError, match="patients of class 1"):
        protocol.fold_split(cases, 0, 5, seed=0, val_fraction=0.2)
    from mmlib.data.glioma_dataset import check_fold_classes  # what every side of a split goes through
    with pytest.raises(ParameterError, match="fold 3: the test set holds 4 case"):
        check_fold_classes([0, 1, 0, 1], [0, 0, 0, 0], 3)


def test_mask_volume_aucs_say_which_region_carries_the_class():
    from mmlib.papers.m3.cohorts import mask_volume_aucs

    easy = mask_volume_aucs(m3_cases("tumour-phantoms", n_cases=60, shape=SHAPE, seed=1, difficulty=0.0))
    assert list(easy.index) == ["tumour (labels 1, 4)", "edema (label 2)", "whole lesion (1, 2, 4)"]
    assert easy.loc["tumour (labels 1, 4)", "segmentation target"]  # the target the task uses
    assert easy.loc["tumour (labels 1, 4)", "AUC of its volume (class 1)"] < 0.2  # metastases: small tumours
    assert easy.loc["tumour (labels 1, 4)", "separation"] > easy.loc["whole lesion (1, 2, 4)", "separation"]
    with pytest.raises(ParameterError, match="phantoms only"):
        mask_volume_aucs(Cohort("manifest", TASKS["tumour"], [], data=[]))
