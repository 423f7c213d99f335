"""Tests of the synthetic phantom generators (mmlib.data.phantoms)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nibabel.affines import apply_affine
from scipy.signal import detrend
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmlib.data.io import load_case_volumes, load_nifti
from mmlib.data.phantoms import alzheimer_phantoms, image_fusion_phantoms, glioma_phantoms, stroke_phantoms
from mmlib.data.phantoms.alzheimer import REGIONS_MM, dosenbach_regions
from mmlib.data.phantoms.anatomy import tissue_maps
from mmlib.errors import ParameterError

SHAPE = (32, 40, 32)


# ---------------------------------------------------------------- baselines
def cv_auc(features: np.ndarray, labels: np.ndarray) -> float:
    """5-fold cross-validated AUC of a standardised logistic regression."""
    model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced"))
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    scores = cross_val_predict(model, features, labels, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(labels, scores))


def lesion_features(cohort, modality: str, mask_value=None) -> np.ndarray:
    """Intensity percentiles and spread inside the lesion mask, relative to the brain median."""
    brain = tissue_maps(cohort.images[modality].shape[1:]).brain > 0.5
    rows = []
    for volume, mask in zip(cohort.images[modality], cohort.masks):
        inside = mask > 0 if mask_value is None else mask == mask_value
        x = volume[inside] / np.median(volume[brain])
        rows.append([np.percentile(x, 5), np.median(x), np.percentile(x, 95), x.std()])
    return np.asarray(rows)


def multimodal_auc(cohort, mask_value=None) -> float:
    features = [lesion_features(cohort, m, mask_value) for m in cohort.images]
    volume = np.log([[np.count_nonzero(m)] for m in cohort.masks])
    return cv_auc(np.hstack(features + [volume]), cohort.labels)


def alzheimer_features(cohort) -> np.ndarray:
    """Mean T1 near hippocampi + amygdalae, and mean default-mode correlation of detrended fMRI."""
    maps = tissue_maps(cohort.images["t1"].shape[1:])
    world, brain = maps.world_mm(), maps.brain > 0.5
    roi = np.zeros(maps.shape, bool)
    for xyz in REGIONS_MM.values():
        roi |= np.linalg.norm(world - np.asarray(xyz), axis=-1) < 8.0
    t1 = [v[roi].mean() / np.median(v[brain]) for v in cohort.images["t1"]]
    coords, networks = dosenbach_regions()
    ijk = np.unique(np.round(apply_affine(np.linalg.inv(cohort.affine_of("fmri")),
                                          coords[networks == "default"])).astype(int), axis=0)
    dmn = []
    for series in cohort.images["fmri"]:
        r = np.corrcoef(detrend(series[:, ijk[:, 0], ijk[:, 1], ijk[:, 2]], axis=0).T)
        dmn.append(r[np.triu_indices_from(r, 1)].mean())
    return np.column_stack([t1, dmn])


# ---------------------------------------------------------------- cohorts (built once)
@pytest.fixture(scope="module")
def grade():
    return glioma_phantoms(seed=0)


@pytest.fixture(scope="module")
def stroke():
    return stroke_phantoms(seed=0)


@pytest.fixture(scope="module")
def alzheimer():
    return alzheimer_phantoms(seed=0)


@pytest.fixture(scope="module")
def fusion():
    return image_fusion_phantoms(n_series=4, slices_per_series=6, size=64, seed=0)


# ---------------------------------------------------------------- anatomy
def test_template_grid_is_brain_sized_with_isotropic_mni_affine():
    maps = tissue_maps(SHAPE)
    assert maps.shape == SHAPE
    assert np.allclose(np.diag(maps.affine)[:3], maps.voxel_mm) and 4.0 < maps.voxel_mm < 5.5
    centre = apply_affine(maps.affine, (np.asarray(SHAPE) - 1) / 2)
    assert np.all(np.abs(centre) < 25.0)  # the grid is centred on the brain in MNI space
    brain_ml = maps.brain.sum() * maps.voxel_mm**3 / 1000
    assert 1100 < brain_ml < 2000  # an adult brain volume
    assert np.all(maps.gm + maps.wm + maps.csf <= maps.brain + 1e-5)
    assert not maps.gm.flags.writeable  # the cached maps cannot be corrupted by a caller


def test_sequences_have_textbook_tissue_contrast(grade):
    maps = tissue_maps(SHAPE)
    healthy = grade.masks[0] == 0
    wm, gm, csf = ((maps.wm > 0.8) & healthy, (maps.gm > 0.7) & healthy, (maps.csf > 0.5) & healthy)
    mean = {m: [grade.images[m][0][t].mean() for t in (wm, gm, csf)] for m in grade.images}
    assert mean["t1"][0] > mean["t1"][1] > mean["t1"][2]
    assert mean["t2"][2] > mean["t2"][1] > mean["t2"][0]
    assert mean["flair"][2] < min(mean["flair"][:2])


# ---------------------------------------------------------------- glioma
def test_glioma_cohort_shapes_labels_and_masks(grade):
    n = 60
    assert set(grade.images) == {"t1", "t1ce", "t2", "flair"}
    for volumes in grade.images.values():
        assert volumes.shape == (n, *SHAPE) and volumes.dtype == np.float32
        assert np.isfinite(volumes).all() and volumes.min() >= 0.0 and volumes.max() < 3.0
    assert grade.masks.shape == (n, *SHAPE) and grade.masks.dtype == np.uint8
    assert set(np.unique(grade.masks)) <= {0, 1, 2, 4}
    assert all(np.count_nonzero(m == 1) > 0 for m in grade.masks)
    assert grade.class_names == ["LGG", "HGG"]
    assert np.bincount(grade.labels).tolist() == [16, 44]  # 210:75 as BraTS2018
    assert len(set(grade.case_ids)) == n and grade.case_ids[7] == "glioma-0007"
    assert list(grade.metadata["case_id"]) == grade.case_ids
    assert (grade.metadata["label"].to_numpy() == grade.labels).all()


def test_glioma_label_is_not_carried_by_mask_label_set_or_size(grade):
    has_enhancing = np.array([4 in np.unique(m) for m in grade.masks])
    size = np.array([np.count_nonzero(m) for m in grade.masks])
    assert roc_auc_score(grade.labels, has_enhancing) < 0.9
    assert roc_auc_score(grade.labels, size) < 0.9


def test_glioma_baseline_is_informative_but_not_perfect(grade):
    auc = multimodal_auc(grade)
    assert 0.6 < auc < 0.97


def test_glioma_modalities_carry_different_information_with_t1ce_best(grade):
    aucs = {m: cv_auc(lesion_features(grade, m), grade.labels) for m in grade.images}
    assert aucs["t1ce"] == max(aucs.values())
    assert aucs["t1ce"] > aucs["t1"] + 0.1
    assert max(aucs.values()) - min(aucs.values()) > 0.1


def test_glioma_higher_difficulty_lowers_the_baseline_of_the_shared_lesion_design():
    easy = glioma_phantoms(difficulty=0.5, seed=0, design="shared-lesion")
    hard = glioma_phantoms(difficulty=0.9, seed=0, design="shared-lesion")
    assert multimodal_auc(hard) < multimodal_auc(easy) - 0.1


@pytest.fixture(scope="module")
def factors():
    return glioma_phantoms(n_cases=240, seed=2)


def test_factor_design_grade_reaches_each_modality_through_its_own_factor(factors):
    from mmlib.data.phantoms.glioma import EFFECT_SIZES, factor_ceiling

    meta, y = factors.metadata, factors.labels
    z = meta[[f"z_{m}" for m in ("t1ce", "flair", "t2", "t1")]].to_numpy()
    assert abs(np.corrcoef(z[y == 1].T)[np.triu_indices(4, 1)]).max() < 0.3  # independent within a class (SE ~0.08)
    for m, d in EFFECT_SIZES.items():  # each factor's class shift is its d' (sd 1), within sampling error
        shift = meta[f"z_{m}"][y == 1].mean() - meta[f"z_{m}"][y == 0].mean()
        assert abs(shift - d) < 0.35, m
    for geometry in ("radius_mm", "necrosis", "edema_ratio", "irregularity", "tumour_voxels"):
        assert abs(roc_auc_score(y, meta[geometry]) - 0.5) < 0.1, geometry  # geometry carries no grade
    assert set(np.unique(factors.masks)) == {0, 1, 2, 4}  # the rim is always labelled enhancing
    assert factor_ceiling(["t1ce"]) == pytest.approx(0.839, abs=1e-3)
    assert factor_ceiling(["t1ce", "flair", "t2", "t1"]) == pytest.approx(0.908, abs=1e-3)
    assert factor_ceiling(["t1ce", "flair"]) > factor_ceiling(["t1ce"])  # fusion can help, by construction


def test_factor_design_signal_is_readable_from_the_images_and_kept_by_the_rescale(factors):
    """Lesion intensities (after the preprocessing's percentile rescale) carry most of each factor."""
    from mmlib.data.phantoms.glioma import factor_ceiling

    y = factors.labels
    scaled = {}
    for m, v in factors.images.items():
        flat = v.reshape(len(v), -1)
        lo, hi = np.percentile(flat, 0.5, axis=1), np.percentile(flat, 99.5, axis=1)
        scaled[m] = (v - lo[:, None, None, None]) / (hi - lo)[:, None, None, None]
    rim = factors.masks == 4
    above = np.mean([np.mean(scaled["t1ce"][i][rim[i]] > 1.0) for i in range(len(y))])
    assert above < 0.1  # the enhancing rim stays inside the rescaled range (44 % was clipped before)
    t1ce = cv_auc(lesion_features(factors, "t1ce"), y)
    assert factor_ceiling(["t1ce"]) - 0.12 < t1ce <= 1.0


def test_metastases_are_smaller_more_numerous_and_not_trivially_separable():
    cohort = glioma_phantoms(n_cases=40, task="glioma_vs_metastasis", seed=0)
    assert cohort.class_names == ["glioma", "metastasis"]
    assert np.bincount(cohort.labels).tolist() == [20, 20]
    meta = cohort.metadata.groupby("class_name")[["n_lesions", "radius_mm", "edema_ratio", "n_at_junction"]].mean()
    assert meta.loc["metastasis", "n_lesions"] > meta.loc["glioma", "n_lesions"]
    assert meta.loc["metastasis", "radius_mm"] < meta.loc["glioma", "radius_mm"]
    assert meta.loc["metastasis", "edema_ratio"] > meta.loc["glioma", "edema_ratio"]
    assert meta.loc["metastasis", "n_at_junction"] > meta.loc["glioma", "n_at_junction"]
    assert 0.6 < multimodal_auc(cohort) < 0.97


# ---------------------------------------------------------------- stroke
def test_stroke_cohort_matches_the_paper_imbalance_and_physiology(stroke):
    assert set(stroke.images) == {"adc", "cbf", "cbv", "mtt", "ttp"}
    assert np.bincount(stroke.labels).tolist() == [60, 11] and stroke.class_names == ["no-HT", "HT"]
    assert set(np.unique(stroke.masks)) == {0, 1, 2}
    maps = tissue_maps(SHAPE)
    gm = maps.gm > 0.7
    for i in range(5):
        core = stroke.masks[i] == 1
        assert core.any()
        side = np.sign(apply_affine(stroke.affine, np.argwhere(core))[:, 0])
        assert abs(side.mean()) == 1.0  # one hemisphere
        assert stroke.images["adc"][i][core].mean() < 0.9 * stroke.images["adc"][i][gm].mean()
        assert stroke.images["ttp"][i][core].mean() > stroke.images["ttp"][i][gm].mean() + 2.0
    assert 40 < np.median(stroke.images["cbf"][:, gm]) < 80  # mL/100 g/min in grey matter


def test_stroke_baseline_is_informative_but_not_perfect_and_difficulty_lowers_it(stroke):
    auc = multimodal_auc(stroke, mask_value=1)
    assert 0.6 < auc < 0.97
    assert multimodal_auc(stroke_phantoms(difficulty=0.95, seed=0), mask_value=1) < auc - 0.1


# ---------------------------------------------------------------- alzheimer
def test_alzheimer_cohort_pairs_t1_and_4d_fmri(alzheimer):
    n = 60
    assert alzheimer.images["t1"].shape == (n, *SHAPE)
    assert alzheimer.images["fmri"].shape == (n, 60, 16, 20, 16)
    assert alzheimer.masks is None and alzheimer.repetition_time == 3.0
    assert not np.allclose(alzheimer.affine_of("fmri"), alzheimer.affine)
    assert alzheimer.class_names == ["NC", "MCI", "AD"]
    assert np.bincount(alzheimer.labels).tolist() == [19, 20, 21]  # 64:70:72 as MASAN


def test_alzheimer_features_order_nc_mci_ad_and_baseline_is_not_perfect(alzheimer):
    features, labels = alzheimer_features(alzheimer), alzheimer.labels
    means = np.array([features[labels == k].mean(0) for k in range(3)])
    assert means[0, 0] > means[1, 0] > means[2, 0]  # less grey matter near hippocampus / amygdala
    assert means[0, 1] > means[1, 1] > means[2, 1]  # weaker default-mode coupling
    keep = labels != 1
    auc = cv_auc(features[keep], labels[keep] // 2)
    assert 0.6 < auc < 0.97
    hard = alzheimer_phantoms(classes=("NC", "AD"), difficulty=0.95, seed=0)
    assert cv_auc(alzheimer_features(hard), hard.labels) < auc - 0.1


# ---------------------------------------------------------------- fusion
def test_fusion_pairs_are_coregistered_ct_and_mri(fusion):
    ct, mr = fusion.images["ct"], fusion.images["mri"]
    assert ct.shape == mr.shape == (24, 64, 64)
    assert ct.min() >= 0 and ct.max() <= 1 and mr.min() >= 0 and mr.max() <= 1
    assert (fusion.labels == 0).all() and fusion.class_names == ["pair"]
    assert pd.Series(fusion.series).value_counts().tolist() == [6, 6, 6, 6]
    bone = ct > 0.8
    assert bone.mean() > 0.02 and np.mean(mr[bone] < 0.2) > 0.9  # skull: bright on CT, dark on MRI
    fluid = mr > 0.8
    assert fluid.any() and np.mean(ct[fluid] < 0.35) > 0.9  # CSF: bright on MRI, dark on CT
    assert not np.allclose(ct[2], ct[6 + 2], atol=0.05)  # two patients differ at the same slice index


# ---------------------------------------------------------------- determinism
@pytest.mark.parametrize("make", [
    lambda seed: glioma_phantoms(n_cases=4, seed=seed),
    lambda seed: stroke_phantoms(n_cases=4, seed=seed),
    lambda seed: alzheimer_phantoms(n_cases=3, n_timepoints=12, seed=seed),
    lambda seed: image_fusion_phantoms(n_series=2, slices_per_series=2, size=64, seed=seed),
], ids=["glioma", "stroke", "alzheimer", "fusion"])
def test_same_seed_same_arrays_other_seed_other_arrays(make):
    a, b, c = make(3), make(3), make(4)
    for modality in a.images:
        assert np.array_equal(a.images[modality], b.images[modality])
        assert not np.allclose(a.images[modality], c.images[modality])
    if a.masks is not None:
        assert np.array_equal(a.masks, b.masks)
    pd.testing.assert_frame_equal(a.metadata, b.metadata)


# ---------------------------------------------------------------- export
def test_glioma_to_nifti_writes_a_brats2018_tree_that_reads_back(tmp_path):
    cohort = glioma_phantoms(n_cases=4, class_ratio=0.5, seed=1)
    cohort.to_nifti(tmp_path)
    for i, case in enumerate(cohort.case_ids):
        folder = tmp_path / cohort.class_names[cohort.labels[i]] / case
        paths = {m: folder / f"{case}_{m}.nii.gz" for m in ("t1", "t1ce", "t2", "flair", "seg")}
        volumes, affine = load_case_volumes(paths)
        assert np.allclose(affine, cohort.affine)
        for m in cohort.images:
            assert np.array_equal(volumes[m], cohort.images[m][i])
        assert np.array_equal(volumes["seg"], cohort.masks[i])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["HGG", "LGG"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_flat_export_writes_labels_csv_and_time_last_fmri(tmp_path):
    cohort = alzheimer_phantoms(n_cases=3, n_timepoints=12, seed=0)
    cohort.to_nifti(tmp_path)
    table = pd.read_csv(tmp_path / "labels.csv")
    assert table["case_id"].tolist() == cohort.case_ids
    assert table["label"].tolist() == cohort.labels.tolist()
    case = cohort.case_ids[1]
    img = nib.load(tmp_path / case / f"{case}_fmri.nii.gz")
    assert img.shape == (16, 20, 16, 12) and img.header.get_zooms()[3] == pytest.approx(3.0)
    assert np.allclose(img.affine, cohort.affine_of("fmri"))
    assert np.array_equal(np.moveaxis(np.asarray(img.dataobj), -1, 0), cohort.images["fmri"][1])
    t1, affine = load_nifti(tmp_path / case / f"{case}_t1.nii.gz")
    assert np.array_equal(t1, cohort.images["t1"][1]) and np.allclose(affine, cohort.affine)


def test_fusion_export_writes_2d_slices_with_their_series(tmp_path, fusion):
    fusion.to_nifti(tmp_path)
    table = pd.read_csv(tmp_path / "labels.csv")
    assert table["series"].tolist() == fusion.series
    case = fusion.case_ids[5]
    ct, _ = load_nifti(tmp_path / case / f"{case}_ct.nii.gz")
    assert ct.shape == (64, 64) and np.array_equal(ct, fusion.images["ct"][5])


# ---------------------------------------------------------------- bad parameters
def test_bad_parameters_raise_parameter_error(tmp_path):
    with pytest.raises(ParameterError, match="difficulty"):
        glioma_phantoms(n_cases=4, difficulty=1.5)
    with pytest.raises(ParameterError, match="task"):
        glioma_phantoms(n_cases=4, task="meningioma")
    with pytest.raises(ParameterError, match="class_ratio"):
        glioma_phantoms(n_cases=4, class_ratio=1.0)
    with pytest.raises(ParameterError, match="classes"):
        alzheimer_phantoms(n_cases=4, classes=("NC", "FTD"))
    with pytest.raises(ParameterError, match="brats2018"):
        stroke_phantoms(n_cases=2).to_nifti(tmp_path, layout="brats2018")
