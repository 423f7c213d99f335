"""Real-data loaders: synthetic fixture trees for every failure, the shared real data for counts and shapes."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import scipy.io
from PIL import Image

from mmlib.data.abide import functional_connectivity, load_abide_timeseries, read_roi_signals
from mmlib.data.aanlib import load_aanlib_pairs, series_of
from mmlib.data.brats import MODALITIES, discover_brats, label_counts, load_brats_case
from mmlib.data.io import sha256_file
from mmlib.data.oasis import load_oasis_slice, load_oasis_slices
from mmlib.data.radiomics import load_brats_radiomics
from mmlib.errors import DataError

# ---------------------------------------------------------------- AANLIB


def make_aanlib(root, names=("16003", "16004", "2004"), pet=False):
    kind, first = ("PET-MRI", "PET") if pet else ("CT-MRI", "CT")
    rng = np.random.default_rng(0)
    for folder in (first, "MRI"):
        (root / kind / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            shape = (16, 16, 3) if folder == "PET" else (16, 16)
            Image.fromarray(rng.integers(0, 255, shape).astype(np.uint8)).save(root / kind / folder / f"{name}.png")
    return root


def test_aanlib_pairs_and_series(tmp_path):
    pairs = load_aanlib_pairs(make_aanlib(tmp_path))
    assert [(p.name, p.series) for p in pairs] == [("2004", "2"), ("16003", "16"), ("16004", "16")]
    images = pairs[0].load()
    assert images["CT"].shape == images["MRI"].shape == (16, 16)


def test_aanlib_pet_is_rgb(tmp_path):
    pairs = load_aanlib_pairs(make_aanlib(tmp_path, pet=True), "PET-MRI")
    images = pairs[0].load()
    assert images["PET"].shape == (16, 16, 3) and images["MRI"].shape == (16, 16)


def test_aanlib_missing_partner(tmp_path):
    root = make_aanlib(tmp_path)
    (root / "CT-MRI" / "MRI" / "16004.png").unlink()
    with pytest.raises(DataError, match=r"MRI/16004\.png: partner of .*CT/16004\.png is missing"):
        load_aanlib_pairs(root)


def test_aanlib_size_mismatch(tmp_path):
    root = make_aanlib(tmp_path)
    Image.fromarray(np.zeros((16, 12), np.uint8)).save(root / "CT-MRI" / "MRI" / "2004.png")
    # (height, width), the array's shape: the same convention as pair_tensors' message for the same file
    with pytest.raises(DataError, match=r"MRI/2004\.png: size \(16, 12\) differs from its partner .*CT/2004\.png"):
        load_aanlib_pairs(root)


def test_aanlib_checksum_file_is_checked(tmp_path):
    root = make_aanlib(tmp_path)
    ct = root / "CT-MRI" / "CT" / "16003.png"
    (root / "SHA256SUMS").write_text(f"{'0' * 64}  CT-MRI/CT/16003.png\n")
    with pytest.raises(DataError, match=r"16003\.png: sha256 .* does not match"):
        load_aanlib_pairs(root)
    (root / "SHA256SUMS").write_text(f"{sha256_file(ct)}  CT-MRI/CT/16003.png\n")
    assert len(load_aanlib_pairs(root)) == 3


def test_aanlib_grey_pet_is_refused_on_load(tmp_path):
    root = make_aanlib(tmp_path, pet=True)
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "PET-MRI" / "PET" / "2004.png")
    pair = load_aanlib_pairs(root, "PET-MRI")[0]
    with pytest.raises(DataError, match=r"PET/2004\.png: expected an RGB colour image but it is greyscale"):
        pair.load()


def test_series_of_rejects_odd_names():
    assert series_of("41023") == "41"
    with pytest.raises(DataError, match="abc"):
        series_of("abc")


@pytest.mark.realdata
def test_aanlib_real(real_data_root):
    root = real_data_root("harvard-aanlib")
    ct = load_aanlib_pairs(root, "CT-MRI")
    assert len(ct) == 184
    assert len({p.series for p in ct}) == 10
    first = ct[0].load()
    assert first["CT"].shape == first["MRI"].shape == (256, 256)
    pet = load_aanlib_pairs(root, "PET-MRI")
    assert len(pet) == 269 and {p.series for p in pet} == {"25", "30", "41"}
    images = pet[0].load()
    assert images["PET"].shape == (256, 256, 3) and images["MRI"].shape == (256, 256)
    assert not np.array_equal(images["PET"][..., 0], images["PET"][..., 1])


# ---------------------------------------------------------------- BraTS


def nifti(path, affine=None, shape=(8, 8, 8), seg=False):
    data = np.zeros(shape, np.float32)
    if seg:
        data[2:5, 2:5, 2:5] = 4
        data[3, 3, 3] = 1
    else:
        data[:] = np.random.default_rng(len(str(path))).random(shape)
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), path)


def make_case(folder, sep="_", names=("t1", "t1ce", "t2", "flair"), seg=True):
    folder.mkdir(parents=True)
    for name in names:
        nifti(folder / f"{folder.name}{sep}{name}.nii.gz")
    if seg:
        nifti(folder / f"{folder.name}{sep}seg.nii.gz", seg=True)
    return folder


def make_brats2018(root):
    for grade, cases in (("HGG", ["Brats18_A_1", "Brats18_B_1"]), ("LGG", ["Brats18_C_1"])):
        for case in cases:
            make_case(root / grade / case)
    return root


def make_brats2020(root, rows=(("BraTS20_Training_001", "HGG"), ("BraTS20_Training_002", "LGG"))):
    for case, _ in rows:
        make_case(root / case)
    pd.DataFrame(
        {"Grade": [g for _, g in rows], "BraTS_2017_subject_ID": "x", "BraTS_2020_subject_ID": [c for c, _ in rows]}
    ).to_csv(root / "name_mapping.csv", index=False)
    return root


def test_brats2018_layout(tmp_path):
    cases = discover_brats(make_brats2018(tmp_path))
    assert [(c.case_id, c.label, c.layout) for c in cases] == [
        ("Brats18_A_1", "HGG", "brats2018"), ("Brats18_B_1", "HGG", "brats2018"), ("Brats18_C_1", "LGG", "brats2018"),
    ]
    assert label_counts(cases) == {"HGG": 2, "LGG": 1}
    loaded = load_brats_case(cases[0])
    assert set(loaded["images"]) == set(MODALITIES)
    assert loaded["seg"].dtype == np.uint8 and set(np.unique(loaded["seg"])) == {0, 1, 4}
    assert loaded["affine"].shape == (4, 4)
    subset = load_brats_case(cases[0], modalities=["t1ce", "flair"])
    assert list(subset["images"]) == ["t1ce", "flair"]


def test_brats_missing_modality_file(tmp_path):
    root = make_brats2018(tmp_path)
    (root / "LGG" / "Brats18_C_1" / "Brats18_C_1_t2.nii.gz").unlink()
    with pytest.raises(DataError, match=r"Brats18_C_1_t2\.nii\.gz: case Brats18_C_1: modality 't2' file does not exist"):
        discover_brats(root)


def test_brats_case_with_misaligned_modality(tmp_path):
    root = make_brats2018(tmp_path)
    moved = np.eye(4)
    moved[2, 3] = 3.0
    nifti(root / "HGG" / "Brats18_A_1" / "Brats18_A_1_flair.nii.gz", affine=moved)
    case = discover_brats(root)[0]
    with pytest.raises(DataError, match=r"Brats18_A_1_flair\.nii\.gz: modality 'flair' has affine .*Brats18_A_1_t1\.nii\.gz"):
        load_brats_case(case)


def test_brats_empty_seg(tmp_path):
    root = make_brats2018(tmp_path)
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8), np.float32), np.eye(4)), root / "HGG" / "Brats18_B_1" / "Brats18_B_1_seg.nii.gz")
    case = discover_brats(root)[1]
    with pytest.raises(DataError, match=r"Brats18_B_1_seg\.nii\.gz: mask is empty"):
        load_brats_case(case)


def test_brats2020_layout(tmp_path):
    cases = discover_brats(make_brats2020(tmp_path))
    assert [(c.case_id, c.label, c.layout) for c in cases] == [
        ("BraTS20_Training_001", "HGG", "brats2020"), ("BraTS20_Training_002", "LGG", "brats2020"),
    ]


def test_brats2020_csv_names_unknown_case(tmp_path):
    root = make_brats2020(tmp_path)
    table = pd.read_csv(root / "name_mapping.csv")
    table.loc[len(table)] = ["LGG", "x", "BraTS20_Training_999"]
    table.to_csv(root / "name_mapping.csv", index=False)
    with pytest.raises(DataError, match=r"name_mapping\.csv: case BraTS20_Training_999 is listed but has no folder"):
        discover_brats(root)


def test_brats2020_case_without_label_row(tmp_path):
    root = make_brats2020(tmp_path)
    make_case(root / "BraTS20_Training_003")
    with pytest.raises(DataError, match=r"name_mapping\.csv: case folder .*BraTS20_Training_003 has no row"):
        discover_brats(root)


def test_brats2020_empty_grade(tmp_path):
    root = make_brats2020(tmp_path, rows=(("BraTS20_Training_001", "HGG"), ("BraTS20_Training_002", "")))
    with pytest.raises(DataError, match=r"name_mapping\.csv: case BraTS20_Training_002 has no label"):
        discover_brats(root)


def test_brats2023_layout_maps_modality_names(tmp_path):
    make_case(tmp_path / "BraTS-GLI-00001-000", sep="-", names=("t1n", "t1c", "t2w", "t2f"), seg=False)
    (case,) = discover_brats(tmp_path)
    assert case.layout == "brats2023" and case.label is None and case.seg is None
    assert {m: p.name for m, p in case.modalities.items()} == {
        "t1": "BraTS-GLI-00001-000-t1n.nii.gz", "t1ce": "BraTS-GLI-00001-000-t1c.nii.gz",
        "t2": "BraTS-GLI-00001-000-t2w.nii.gz", "flair": "BraTS-GLI-00001-000-t2f.nii.gz",
    }
    assert load_brats_case(case)["seg"] is None
    with pytest.raises(DataError, match="case BraTS-GLI-00001-000 has no label"):
        discover_brats(tmp_path, require_label=True)


def test_brats2021_layout(tmp_path):
    make_case(tmp_path / "BraTS2021_00000")
    (case,) = discover_brats(tmp_path)
    assert case.layout == "brats2021" and case.label is None and case.seg.name == "BraTS2021_00000_seg.nii.gz"


def test_brats_unknown_layout(tmp_path):
    (tmp_path / "something").mkdir()
    with pytest.raises(DataError, match="no known BraTS layout"):
        discover_brats(tmp_path)


def write_manifest(root, label="HGG"):
    make_case(root / "c1")
    rows = {"case_id": "c1", "label": label, "task": "grading", "seg": "c1/c1_seg.nii.gz"}
    rows.update({m: f"c1/c1_{m}.nii.gz" for m in MODALITIES})
    pd.DataFrame([rows]).to_csv(root / "MANIFEST.csv", index=False)
    return root


def test_brats_manifest_layout(tmp_path):
    (case,) = discover_brats(write_manifest(tmp_path))
    assert (case.case_id, case.label, case.layout, case.task) == ("c1", "HGG", "manifest", "grading")


def test_brats_manifest_case_without_label(tmp_path):
    with pytest.raises(DataError, match=r"MANIFEST\.csv: case c1 has no label"):
        discover_brats(write_manifest(tmp_path, label=""))


def test_brats_manifest_unknown_label(tmp_path):
    with pytest.raises(DataError, match=r"MANIFEST\.csv: case c1 has label 'GBM'"):
        discover_brats(write_manifest(tmp_path, label="GBM"))


def test_brats_manifest_missing_listed_file(tmp_path):
    root = write_manifest(tmp_path)
    (root / "c1" / "c1_flair.nii.gz").unlink()
    with pytest.raises(DataError, match=r"c1_flair\.nii\.gz: case c1: modality 'flair' file does not exist \(listed in"):
        discover_brats(root)


@pytest.mark.realdata
def test_brats_samples_real(real_data_root):
    root = real_data_root("brats-samples")
    cases = discover_brats(root, require_label=True)
    assert label_counts(cases) == {"HGG": 2, "LGG": 2, "glioma": 1, "metastasis": 1}
    assert sum(c.seg is not None for c in cases) == 4
    loaded = load_brats_case(cases[0])
    assert all(v.shape == (240, 240, 155) for v in loaded["images"].values())
    assert set(np.unique(loaded["seg"])) <= {0, 1, 2, 4}
    (glioma,) = discover_brats(root / "brats-gli")
    assert glioma.layout == "brats2023" and glioma.label is None


# ---------------------------------------------------------------- radiomics


def write_radiomics(root, grades_by_table):
    for table, grades in grades_by_table.items():
        frame = pd.DataFrame({
            "Brats17ID": list(grades),
            "Grade": list(grades.values()),
            "Image": "x.nii", "Mask": "m.nii", "general_info_VoxelNum": 1.0,
            "original_shape_Volume": np.arange(len(grades), dtype=float),
            "original_firstorder_Constant": 3.0,
        })
        frame.to_csv(root / f"grades_{table}_norm_binpt1_Wavelet_radiomics.csv", index=False)
    return root


def test_radiomics_join(tmp_path):
    grades = {"A": "High", "B": "Low", "C": "High"}
    features, grade, groups = load_brats_radiomics(write_radiomics(tmp_path, {"t1ce_label1": grades, "flair_label2": grades}))
    assert list(features.columns) == ["flair_label2__original_shape_Volume", "t1ce_label1__original_shape_Volume"]
    assert grade.to_dict() == {"A": 1, "B": 0, "C": 1}
    assert groups == {"flair_label2": ["flair_label2__original_shape_Volume"],
                      "t1ce_label1": ["t1ce_label1__original_shape_Volume"]}


def test_radiomics_inconsistent_grade(tmp_path):
    root = write_radiomics(tmp_path, {"t1ce_label1": {"A": "High", "B": "Low"}, "flair_label2": {"A": "High", "B": "High"}})
    with pytest.raises(DataError, match=r"grades_t1ce_label1_.*\.csv: case B: Grade Low here but High in .*grades_flair_label2"):
        load_brats_radiomics(root)


def test_radiomics_missing_case(tmp_path):
    root = write_radiomics(tmp_path, {"t1ce_label1": {"A": "High"}, "flair_label2": {"A": "High", "B": "Low"}})
    with pytest.raises(DataError, match=r"grades_t1ce_label1_.*\.csv: case B is missing from this table"):
        load_brats_radiomics(root)


def test_radiomics_unknown_grade(tmp_path):
    root = write_radiomics(tmp_path, {"t1ce_label1": {"A": "High", "B": ""}})
    with pytest.raises(DataError, match=r"grades_t1ce_label1_.*\.csv: case B has Grade"):
        load_brats_radiomics(root)


@pytest.mark.realdata
def test_radiomics_real(real_data_root):
    features, grade, groups = load_brats_radiomics(real_data_root("brats2017-radiomics"))
    assert len(features) == 242 and (grade == 1).sum() == 178 and (grade == 0).sum() == 64
    assert sorted(groups) == ["flair_label2", "t1ce_label1", "t1ce_label4"]
    assert "t1ce_label1__original_shape_Volume" in features.columns
    assert all(pd.api.types.is_numeric_dtype(t) for t in features.dtypes)
    assert sum(len(v) for v in groups.values()) == features.shape[1]
    assert features.index.equals(grade.index)


# ---------------------------------------------------------------- OASIS


def make_oasis(root, rows):
    (root / "slices").mkdir(parents=True)
    for subject in ("OAS1_0001_MR1", "OAS1_0002_MR1"):
        for view in "acs":
            Image.fromarray(np.full((8, 6), 100, np.uint8)).save(root / "slices" / f"{subject}_{view}.jpg")
    pd.DataFrame(rows, columns=["ID", "M/F", "Age", "MMSE", "CDR"]).to_csv(root / "oasis_cross-sectional.csv", index=False)
    return root


def test_oasis_synthetic(tmp_path):
    root = make_oasis(tmp_path, [["OAS1_0001_MR1", "F", 70, 29, 0], ["OAS1_0002_MR1", "M", 80, 24, 0.5],
                                 ["OAS1_0003_MR1", "M", 20, None, None]])
    table = load_oasis_slices(root)
    assert table["ID"].tolist() == ["OAS1_0001_MR1", "OAS1_0002_MR1"]
    assert table["label"].tolist() == [0, 1]


def test_oasis_subject_without_row(tmp_path):
    root = make_oasis(tmp_path, [["OAS1_0001_MR1", "F", 70, 29, 0]])
    with pytest.raises(DataError, match=r"oasis_cross-sectional\.csv: subject OAS1_0002_MR1 has slices .* but no row"):
        load_oasis_slices(root)


def test_oasis_subject_without_cdr(tmp_path):
    root = make_oasis(tmp_path, [["OAS1_0001_MR1", "F", 70, 29, 0], ["OAS1_0002_MR1", "M", 80, 24, None]])
    with pytest.raises(DataError, match=r"oasis_cross-sectional\.csv: subject OAS1_0002_MR1 has no CDR \(empty cell\)"):
        load_oasis_slices(root)


def test_oasis_missing_view(tmp_path):
    root = make_oasis(tmp_path, [["OAS1_0001_MR1", "F", 70, 29, 0], ["OAS1_0002_MR1", "M", 80, 24, 1]])
    (root / "slices" / "OAS1_0002_MR1_s.jpg").unlink()
    with pytest.raises(DataError, match=r"OAS1_0002_MR1_s\.jpg: subject OAS1_0002_MR1: sagittal slice does not exist"):
        load_oasis_slices(root)


@pytest.mark.realdata
def test_oasis_real(real_data_root):
    table = load_oasis_slices(real_data_root("oasis1-slices"))
    assert len(table) == 160
    assert table["label"].value_counts().to_dict() == {0: 80, 1: 80}
    assert table["age"].between(60, 96).all()
    axial = load_oasis_slice(table["axial"].iloc[0])
    assert axial.shape == (208, 176) and axial.dtype == np.float32 and 0 <= axial.min() < axial.max() <= 1


# ---------------------------------------------------------------- ABIDE


def make_abide(root, signals_by_subject, n_rois=116):
    (root / "Functional").mkdir(parents=True)
    for subject, signals in signals_by_subject.items():
        scipy.io.savemat(root / "Functional" / f"{subject}.mat", {"ROISignals": signals})
    pd.DataFrame({"SUB_ID": [50001, 50002], "SITE_ID": ["PITT", "OHSU"], "DX_GROUP": [1, 0]}).to_csv(
        root / "Phenotypic_V1_0b_preprocessed1.csv")
    pd.DataFrame({"num": range(1, n_rois + 1), "name": [f"R{i}" for i in range(n_rois)]}).to_csv(
        root / "Risk_ROI_List.csv", index=False)
    return root


def test_abide_synthetic(tmp_path):
    rng = np.random.default_rng(0)
    root = make_abide(tmp_path, {50002: rng.standard_normal((20, 116)), 50001: rng.standard_normal((30, 116))})
    series, phenotype, names = load_abide_timeseries(root)
    assert phenotype["SUB_ID"].tolist() == [50001, 50002]
    assert phenotype["label"].tolist() == [1, 0]
    assert [s.shape for s in series] == [(30, 116), (20, 116)]
    assert len(names) == 116


def test_abide_missing_variable(tmp_path):
    root = make_abide(tmp_path, {})
    scipy.io.savemat(root / "Functional" / "50001.mat", {"signals": np.zeros((5, 116))})
    with pytest.raises(DataError, match=r"50001\.mat: no variable 'ROISignals' \(found \['signals'\]\)"):
        load_abide_timeseries(root)


def test_abide_wrong_roi_count(tmp_path):
    root = make_abide(tmp_path, {50001: np.ones((5, 90))})
    with pytest.raises(DataError, match=r"50001\.mat: ROISignals has shape \(5, 90\), expected \(time >= 2, 116\)"):
        load_abide_timeseries(root)


def test_abide_nan(tmp_path):
    signals = np.random.default_rng(1).standard_normal((6, 116))
    signals[2, 5] = np.nan
    path = tmp_path / "50001.mat"
    scipy.io.savemat(path, {"ROISignals": signals})
    with pytest.raises(DataError, match=r"50001\.mat: 1 NaN/inf values"):
        read_roi_signals(path)


def test_abide_subject_without_phenotype(tmp_path):
    root = make_abide(tmp_path, {50003: np.random.default_rng(2).standard_normal((5, 116))})
    with pytest.raises(DataError, match=r"Phenotypic_V1_0b_preprocessed1\.csv: subject 50003 has a time series"):
        load_abide_timeseries(root)


def test_functional_connectivity_matches_pearson_and_handles_constant_roi():
    ts = np.random.default_rng(3).standard_normal((50, 5))
    np.testing.assert_allclose(functional_connectivity(ts), np.corrcoef(ts.T))
    ts[:, 2] = 0.0
    fc = functional_connectivity(ts)
    assert np.isfinite(fc).all() and np.allclose(fc, fc.T)
    assert fc[2, 2] == 1.0 and not fc[2, [0, 1, 3, 4]].any()
    kept = [0, 1, 3, 4]
    np.testing.assert_allclose(fc[np.ix_(kept, kept)], np.corrcoef(ts[:, kept].T))


@pytest.mark.realdata
def test_abide_real(real_data_root):
    series, phenotype, names = load_abide_timeseries(real_data_root("abide-roi-timeseries"))
    assert len(series) == len(phenotype) == 80
    assert phenotype["SITE_ID"].value_counts().to_dict() == {"PITT": 45, "OLIN": 25, "OHSU": 10}
    assert phenotype["label"].sum() == 48
    assert all(s.shape[1] == 116 for s in series) and len(names) == 116
    assert (phenotype["n_timepoints"] == [s.shape[0] for s in series]).all()
    fc = functional_connectivity(series[0])
    assert fc.shape == (116, 116) and np.isfinite(fc).all() and np.allclose(np.diag(fc), 1)


def test_oasis_subject_without_age(tmp_path):
    root = make_oasis(tmp_path, [["OAS1_0001_MR1", "F", 70, 29, 0], ["OAS1_0002_MR1", "M", None, 24, 0.5]])
    with pytest.raises(DataError, match=r"oasis_cross-sectional\.csv: subject OAS1_0002_MR1 has no Age \(empty cell\)"):
        load_oasis_slices(root)


def test_abide_malformed_phenotype_csv_is_named(tmp_path):
    root = make_abide(tmp_path, {50001: np.ones((5, 116))})
    (root / "Phenotypic_V1_0b_preprocessed1.csv").write_text('SUB_ID,SITE_ID,DX_GROUP\n50001,"PITT,1\n50002,OHSU,0,7,8\n')
    with pytest.raises(DataError, match=r"Phenotypic_V1_0b_preprocessed1\.csv: cannot read CSV"):
        load_abide_timeseries(root)
