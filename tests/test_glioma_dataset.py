"""The glioma-grading data pipeline: phantoms and BraTS through one loader, and its bad-input errors."""

from __future__ import annotations

import logging

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.transforms import ScaleIntensityRangePercentiles

from mmlib.data.glioma_dataset import (
    DATASETS, GliomaVolumes, check_fold_classes, glioma_cases, make_loader,
)
from mmlib.errors import DataError, ParameterError

SHAPE = (16, 20, 12)  # phantom RAS voxels (x, y, z)
MODEL_SIZE = (12, 20, 16)  # the same grid in model order (D, H, W) = (z, y, x)
MODALITIES = ("t1ce", "t2", "flair", "t1")


@pytest.fixture(scope="module")
def phantom_cases():
    return glioma_cases("glioma-phantoms", n_cases=6, shape=SHAPE, seed=0)


def _batches(dataset, seed=0, batch_size=2, shuffle=True):
    return list(make_loader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed))


def _equal(batches_a, batches_b) -> bool:
    return all(a["case_id"] == b["case_id"] and all(torch.equal(a[m], b[m]) for m in MODALITIES)
               for a, b in zip(batches_a, batches_b, strict=True))


def test_phantom_cases_carry_grade_group_and_ras_arrays(phantom_cases):
    assert len(phantom_cases) == 6
    assert {c["label"] for c in phantom_cases} == {0, 1}
    for case in phantom_cases:
        assert case["class_name"] == ("HGG" if case["label"] == 1 else "LGG")
        assert case["group"] == case["case_id"]
        assert all(case[m].shape == SHAPE for m in MODALITIES) and case["seg"].shape == SHAPE


def test_phantom_batches_have_model_keys_shapes_dtypes_and_unit_range(phantom_cases):
    dataset = GliomaVolumes(phantom_cases, train=True, spatial_size=MODEL_SIZE, seed=1)
    batches = _batches(dataset)
    assert len(batches) == 3
    for batch in batches:
        assert set(batch) == {*MODALITIES, "label", "case_id"}
        assert batch["label"].dtype == torch.int64 and batch["label"].shape == (2,)
        assert set(batch["label"].tolist()) <= {0, 1} and len(batch["case_id"]) == 2
        for m in MODALITIES:
            volume = batch[m]
            assert type(volume) is torch.Tensor and volume.dtype == torch.float32
            assert volume.shape == (2, 1, *MODEL_SIZE)
            assert volume.min() >= 0.0 and volume.max() <= 1.0 and volume.max() > 0.5


def test_eval_volume_is_the_rescaled_ras_array_with_slices_first(phantom_cases):
    case = phantom_cases[0]
    sample = GliomaVolumes([case], modalities=("t1ce",), train=False)[0]
    rescaled = ScaleIntensityRangePercentiles(0.5, 99.5, 0.0, 1.0, clip=True)(case["t1ce"][None])[0]
    expected = np.transpose(np.asarray(rescaled), (2, 1, 0))  # (x, y, z) -> (z, y, x)
    assert sample["t1ce"].shape == (1, *MODEL_SIZE)
    np.testing.assert_allclose(sample["t1ce"][0].numpy(), expected, atol=1e-6)
    assert sample["label"] == case["label"] and sample["case_id"] == case["case_id"]


def test_same_seed_gives_identical_augmented_batches(phantom_cases):
    def run(seed):
        return _batches(GliomaVolumes(phantom_cases, train=True, spatial_size=MODEL_SIZE, seed=seed), seed=seed)

    first, again, other = run(3), run(3), run(4)
    assert _equal(first, again)
    assert not _equal(first, other)


def test_eval_mode_is_deterministic_and_unaugmented(phantom_cases):
    evaluation = GliomaVolumes(phantom_cases, train=False, spatial_size=MODEL_SIZE, seed=0)
    reseeded = GliomaVolumes(phantom_cases, train=False, spatial_size=MODEL_SIZE, seed=99)
    no_augment = GliomaVolumes(phantom_cases, train=True, augment="off", spatial_size=MODEL_SIZE, seed=5)
    augmented = GliomaVolumes(phantom_cases, train=True, spatial_size=MODEL_SIZE, seed=0)
    reference = _batches(evaluation, shuffle=False)
    assert _equal(reference, _batches(evaluation, shuffle=False))
    assert _equal(reference, _batches(reseeded, shuffle=False))
    assert _equal(reference, _batches(no_augment, shuffle=False))
    assert not _equal(reference, _batches(augmented, shuffle=False))


def test_modality_subset_and_mask_output(phantom_cases):
    cases = [{k: v for k, v in case.items() if k != "t1"} for case in phantom_cases]  # no T1 anywhere
    sample = GliomaVolumes(cases, modalities=("t1ce", "flair"), train=False, with_seg=True)[0]
    assert set(sample) == {"t1ce", "flair", "seg", "label", "case_id"}
    assert sample["seg"].dtype == torch.uint8 and sample["seg"].shape == (1, *MODEL_SIZE)
    assert set(torch.unique(sample["seg"]).tolist()) <= {0, 1, 2, 4}


def test_real_brats_samples_give_the_four_graded_cases(real_data_root, caplog):
    root = real_data_root("brats-samples")
    with caplog.at_level(logging.WARNING, logger="mmlib.data.glioma_dataset"):
        cases = glioma_cases("brats-samples", root.parent)
    assert sorted((c["case_id"], c["label"]) for c in cases) == [
        ("Brats18_2013_2_1", 1), ("Brats18_TCIA05_396_1", 1), ("TCGA-DU-7294", 0), ("TCGA-FG-6692", 0)]
    assert "BraTS-GLI-00001-000 (glioma)" in caplog.text and "BraTS-MET-00110-000 (metastasis)" in caplog.text

    dataset = GliomaVolumes(cases[:1], train=False, spatial_size=(16, 32, 32), fit="resize")
    batch = next(iter(make_loader(dataset)))
    assert batch["case_id"] == [cases[0]["case_id"]] and batch["label"].tolist() == [cases[0]["label"]]
    for m in MODALITIES:
        assert batch[m].shape == (1, 1, 16, 32, 32)
        assert batch[m].min() >= 0.0 and batch[m].max() <= 1.0 and batch[m].max() > 0.5


def test_unknown_dataset_lists_the_options():
    with pytest.raises(ParameterError) as error:
        glioma_cases("brats2017")
    assert all(name in str(error.value) for name in DATASETS)


def test_missing_modality_names_case_and_modality(phantom_cases):
    broken = dict(phantom_cases[1])
    del broken["t2"]
    with pytest.raises(DataError, match=rf"{broken['case_id']}.*'t2'"):
        GliomaVolumes([phantom_cases[0], broken], train=False)


def test_mismatched_array_shapes_name_both_modalities(phantom_cases):
    broken = {**phantom_cases[0], "flair": np.zeros((16, 20, 10), np.float32)}
    with pytest.raises(DataError, match=r"'flair' has shape \(16, 20, 10\) but 't1ce' has shape \(16, 20, 12\)"):
        GliomaVolumes([broken], train=False)


def _write(path, shape):
    nib.save(nib.Nifti1Image(np.ones(shape, np.float32), np.eye(4)), path)
    return path


def test_file_cases_missing_or_mismatched_files_name_them(tmp_path):
    paths = {m: _write(tmp_path / f"{m}.nii.gz", (8, 8, 6)) for m in ("t1ce", "t2")}
    case = {"case_id": "case-1", "label": 1, **paths}
    assert len(GliomaVolumes([case], modalities=("t1ce", "t2"), train=False)) == 1

    odd = {**case, "t2": _write(tmp_path / "t2-odd.nii.gz", (8, 8, 5))}
    with pytest.raises(DataError) as error:
        GliomaVolumes([odd], modalities=("t1ce", "t2"), train=False)
    assert "t2-odd.nii.gz" in str(error.value) and "t1ce.nii.gz" in str(error.value)
    assert "(8, 8, 5)" in str(error.value) and "(8, 8, 6)" in str(error.value)

    gone = {**case, "t2": tmp_path / "absent.nii.gz"}
    with pytest.raises(DataError, match=r"absent.nii.gz: case case-1: 't2' file does not exist"):
        GliomaVolumes([gone], modalities=("t1ce", "t2"), train=False)


def test_folder_without_graded_case_is_an_error(tmp_path):
    folder = tmp_path / "brats-samples"
    folder.mkdir()
    for m in ("t1", "t1ce", "t2", "flair"):
        _write(folder / f"{m}.nii.gz", (4, 4, 4))
    (folder / "MANIFEST.csv").write_text("case_id,label,t1,t1ce,t2,flair\nmet-1,metastasis,"
                                         "t1.nii.gz,t1ce.nii.gz,t2.nii.gz,flair.nii.gz\n")
    with pytest.raises(DataError, match=r"brats-samples: no case has an LGG/HGG grade.*met-1 \(metastasis\)"):
        glioma_cases("brats-samples", tmp_path)


def test_bad_parameters_are_refused(phantom_cases):
    with pytest.raises(ParameterError, match="spatial_size"):
        GliomaVolumes(phantom_cases, train=False, spatial_size=(16, 32))
    with pytest.raises(ParameterError, match="modalities"):
        GliomaVolumes(phantom_cases, train=False, modalities=("t1ce", "dwi"))
    with pytest.raises(ParameterError, match="mix"):
        GliomaVolumes([phantom_cases[0], {**phantom_cases[1], "t1": "t1.nii.gz"}], train=False)


def test_check_fold_classes_names_the_fold_and_side():
    assert check_fold_classes([0, 1, 1, 0], [1, 0], fold=0) == {"train": {0: 2, 1: 2}, "test": {0: 1, 1: 1}}
    single_class = r"fold 2: the test set holds 2 case\(s\) of class\(es\) \[1\] only.*fewer folds"
    with pytest.raises(ParameterError, match=single_class):
        check_fold_classes([0, 1, 0], [1, 1], fold=2)
    with pytest.raises(ParameterError, match=r"fold 1: the train set"):
        check_fold_classes([1, 1, 1], [0, 1], fold=1)


def test_sample_cases_absent_folder_is_a_note_not_an_error(tmp_path):
    from mmlib.data.glioma_dataset import sample_cases

    cases, note = sample_cases(tmp_path)
    assert cases == [] and "no brats-samples scans" in note and str(tmp_path) in note


def test_sample_cases_real_folder_gives_the_graded_cases(real_data_root):
    from mmlib.data.glioma_dataset import sample_cases

    root = real_data_root("brats-samples").parent
    cases, note = sample_cases(root)
    assert sorted(c["class_name"] for c in cases) == ["HGG", "HGG", "LGG", "LGG"]  # the glioma and metastasis are left out
    assert note.startswith("4 graded real case(s)")


def test_a_truncated_volume_is_named_when_its_voxels_are_read(tmp_path):
    """Only the header is read when the dataset is built; the first read of the voxels names the file."""
    paths = {m: _write(tmp_path / f"{m}.nii.gz", (16, 16, 12)) for m in ("t1ce", "t2")}
    noise = np.random.default_rng(0).random((16, 16, 12)).astype(np.float32)  # incompressible voxels
    nib.save(nib.Nifti1Image(noise, np.eye(4)), paths["t2"])
    data = paths["t2"].read_bytes()
    paths["t2"].write_bytes(data[: int(len(data) * 0.6)])  # header intact, voxels cut off
    volumes = GliomaVolumes([{"case_id": "case-7", "label": 0, **paths}], modalities=("t1ce", "t2"), train=False)
    with pytest.raises(DataError) as error:
        volumes[0]
    assert "case case-7" in str(error.value) and "t2.nii.gz" in str(error.value)
    assert "cannot be loaded" in str(error.value) and "Compose object at" not in str(error.value)


def test_a_data_root_set_to_a_missing_folder_stops_even_the_phantoms(tmp_path, monkeypatch):
    monkeypatch.setenv("MMLIB_DATA", str(tmp_path / "nonexistent"))
    with pytest.raises(DataError, match=r"nonexistent: data root \(from \$MMLIB_DATA\) does not exist"):
        glioma_cases("glioma-phantoms", n_cases=8)



def test_lesion_fit_cuts_a_box_around_the_mask_after_the_whole_volume_rescale(phantom_cases):
    box = (8, 12, 10)  # (D, H, W)
    volumes = GliomaVolumes(phantom_cases[:4], train=False, fit="lesion", spatial_size=box, with_seg=True)
    item = volumes[0]
    assert item["t1ce"].shape == (1, *box) and item["seg"].shape == (1, *box)
    lesion = np.argwhere(item["seg"][0].numpy() > 0)
    centre = (lesion.min(axis=0) + lesion.max(axis=0)) / 2
    assert np.all(np.abs(centre - (np.array(box) - 1) / 2) <= 1.0)  # the mask's box sits in the middle
    whole = GliomaVolumes(phantom_cases[:1], train=False)[0]["t1ce"]
    assert float(item["t1ce"].max()) <= float(whole.max()) + 1e-6  # rescaled on the whole volume, then cut
    assert "seg" not in GliomaVolumes(phantom_cases[:1], train=False, fit="lesion", spatial_size=box)[0]
    with pytest.raises(ParameterError, match="box size"):
        GliomaVolumes(phantom_cases[:1], train=False, fit="lesion")


def test_flip_augmentation_only_mirrors(phantom_cases):
    plain = GliomaVolumes(phantom_cases[:1], train=False, spatial_size=MODEL_SIZE)[0]["t1ce"]
    flipped = torch.flip(plain, dims=[3])  # RAS x is the model's W axis
    for seed in range(6):
        drawn = GliomaVolumes(phantom_cases[:1], train=True, augment="flip", spatial_size=MODEL_SIZE, seed=seed)[0]["t1ce"]
        assert torch.allclose(drawn, plain) or torch.allclose(drawn, flipped)
    with pytest.raises(ParameterError, match="augment"):
        GliomaVolumes(phantom_cases[:1], train=True, augment=True)


def test_phantom_cases_carry_the_generators_truth():
    cases = glioma_cases("glioma-phantoms", n_cases=12, shape=(16, 20, 12), seed=0)
    assert {"z_t1ce", "z_flair", "z_t2", "z_t1", "radius_mm"} <= set(cases[0]["phantom"])
    old = glioma_cases("glioma-phantoms", n_cases=12, shape=(16, 20, 12), seed=0, design="shared-lesion")
    assert "z_t1ce" not in old[0]["phantom"] and not np.array_equal(old[0]["t1ce"], cases[0]["t1ce"])
