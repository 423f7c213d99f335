"""mmlib.data.io: every bad input gives a DataError that names the file and the problem."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from mmlib.data import io
from mmlib.errors import DataError


def write_nifti(path, data, affine=None):
    nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.float32), np.eye(4) if affine is None else affine), path)
    return path


def volume(seed=0, shape=(8, 8, 8)):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_load_nifti_round_trip(tmp_path):
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    data = volume()
    out, out_affine = io.load_nifti(write_nifti(tmp_path / "a.nii.gz", data, affine))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, data)
    np.testing.assert_array_equal(out_affine, affine)


def test_missing_nifti(tmp_path):
    with pytest.raises(DataError, match="nope.nii.gz: file does not exist"):
        io.load_nifti(tmp_path / "nope.nii.gz")


@pytest.mark.parametrize("keep", [0.5, 0.05])
def test_truncated_nifti(tmp_path, keep):
    good = write_nifti(tmp_path / "good.nii.gz", volume())
    blob = good.read_bytes()
    bad = tmp_path / "truncated.nii.gz"
    bad.write_bytes(blob[: int(len(blob) * keep)])
    with pytest.raises(DataError, match=r"truncated\.nii\.gz: cannot read NIfTI \(truncated or corrupt\)"):
        io.load_nifti(bad)


def test_corrupt_nifti_header(tmp_path):
    bad = tmp_path / "garbage.nii"
    bad.write_bytes(b"\x00" * 400)
    with pytest.raises(DataError, match=r"garbage\.nii: cannot read NIfTI"):
        io.load_nifti(bad)


def test_nonfinite_voxels(tmp_path):
    data = volume()
    data[0, 0, 0], data[1, 2, 3] = np.nan, np.inf
    path = write_nifti(tmp_path / "nan.nii.gz", data)
    with pytest.raises(DataError, match=r"nan\.nii\.gz: 2 NaN/inf voxels"):
        io.load_nifti(path)
    out, _ = io.load_nifti(path, allow_nonfinite=True)
    assert np.isnan(out[0, 0, 0]) and np.isinf(out[1, 2, 3])


def test_case_volumes_load_together(tmp_path):
    paths = {m: write_nifti(tmp_path / f"{m}.nii.gz", volume(i)) for i, m in enumerate(["t1", "t2"])}
    volumes, affine = io.load_case_volumes(paths)
    assert list(volumes) == ["t1", "t2"]
    np.testing.assert_array_equal(volumes["t2"], volume(1))
    np.testing.assert_array_equal(affine, np.eye(4))


def test_case_volumes_shape_mismatch_names_both_files(tmp_path):
    paths = {
        "t1": write_nifti(tmp_path / "case_t1.nii.gz", volume()),
        "t2": write_nifti(tmp_path / "case_t2.nii.gz", volume(shape=(8, 8, 6))),
    }
    with pytest.raises(DataError) as info:
        io.load_case_volumes(paths)
    message = str(info.value)
    assert "case_t2.nii.gz" in message and "case_t1.nii.gz" in message
    assert "(8, 8, 6)" in message and "(8, 8, 8)" in message


def test_case_volumes_affine_mismatch_names_both_files(tmp_path):
    shifted = np.eye(4)
    shifted[0, 3] = 5.0
    paths = {
        "t1": write_nifti(tmp_path / "case_t1.nii.gz", volume()),
        "flair": write_nifti(tmp_path / "case_flair.nii.gz", volume(), shifted),
    }
    with pytest.raises(DataError, match="affine") as info:
        io.load_case_volumes(paths)
    assert "case_flair.nii.gz" in str(info.value) and "case_t1.nii.gz" in str(info.value)
    assert "5.0" in str(info.value)


def test_case_volumes_affine_tolerance(tmp_path):
    nudged = np.eye(4)
    nudged[0, 3] = 1e-5
    paths = {"t1": write_nifti(tmp_path / "a.nii.gz", volume()), "t2": write_nifti(tmp_path / "b.nii.gz", volume(), nudged)}
    volumes, _ = io.load_case_volumes(paths)
    assert set(volumes) == {"t1", "t2"}


def test_case_volumes_missing_modality(tmp_path):
    paths = {"t1": write_nifti(tmp_path / "case_t1.nii.gz", volume()), "t1ce": tmp_path / "case_t1ce.nii.gz"}
    with pytest.raises(DataError, match=r"case_t1ce\.nii\.gz: file does not exist \(modality 't1ce'\)"):
        io.load_case_volumes(paths)


def test_empty_mask(tmp_path):
    path = write_nifti(tmp_path / "seg.nii.gz", np.zeros((8, 8, 8)))
    with pytest.raises(DataError, match=r"seg\.nii\.gz: mask is empty \(no non-zero voxel\)"):
        io.load_mask(path)
    assert io.load_mask(path, allow_empty=True).sum() == 0


def test_mask_shape_and_values(tmp_path):
    labels = np.zeros((8, 8, 8))
    labels[2:4, 2:4, 2:4] = 4
    path = write_nifti(tmp_path / "seg.nii.gz", labels)
    mask = io.load_mask(path, reference_shape=(8, 8, 8))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 4}
    with pytest.raises(DataError, match=r"seg\.nii\.gz: mask has shape \(8, 8, 8\) but the image has shape \(8, 8, 9\)"):
        io.load_mask(path, reference_shape=(8, 8, 9))
    soft = write_nifti(tmp_path / "soft.nii.gz", labels * 0.3)
    with pytest.raises(DataError, match=r"soft\.nii\.gz: mask holds values that are not integer labels"):
        io.load_mask(soft)


def save_png(path, array):
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def test_png_grey_in_unit_range(tmp_path):
    array = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = io.load_png(save_png(tmp_path / "g.png", array))
    assert out.dtype == np.float32 and out.shape == (16, 16)
    assert out.min() == 0.0 and out.max() == 1.0
    np.testing.assert_allclose(out, array / 255.0, atol=1e-7)


def test_truncated_png(tmp_path):
    good = save_png(tmp_path / "good.png", np.random.default_rng(0).integers(0, 255, (64, 64)))
    bad = tmp_path / "cut.png"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(DataError, match=r"cut\.png: cannot read image \(truncated or corrupt\)"):
        io.load_png(bad)


def test_corrupt_png(tmp_path):
    bad = tmp_path / "junk.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not a png" * 10)
    with pytest.raises(DataError, match=r"junk\.png: cannot read image"):
        io.load_png(bad)
    other = tmp_path / "text.png"
    other.write_text("hello")
    with pytest.raises(DataError, match=r"text\.png: cannot read image"):
        io.load_png(other)


def test_grey_expected_but_colour(tmp_path):
    colour = np.zeros((8, 8, 3), dtype=np.uint8)
    colour[..., 0] = 200
    path = save_png(tmp_path / "pet.png", colour)
    with pytest.raises(DataError, match=r"pet\.png: expected a greyscale image but it is RGB colour"):
        io.load_png(path, "grey")
    assert io.load_png(path, "rgb").shape == (8, 8, 3)


def test_rgb_stored_grey_counts_as_grey(tmp_path):
    grey = np.random.default_rng(1).integers(0, 255, (8, 8)).astype(np.uint8)
    path = save_png(tmp_path / "grey_as_rgb.png", np.stack([grey] * 3, axis=-1))
    out = io.load_png(path, "grey")
    assert out.shape == (8, 8)
    np.testing.assert_allclose(out, grey / 255.0, atol=1e-7)


def test_rgb_expected_but_grey(tmp_path):
    path = save_png(tmp_path / "mri.png", np.full((8, 8), 7))
    with pytest.raises(DataError, match=r"mri\.png: expected an RGB colour image but it is greyscale"):
        io.load_png(path, "rgb")


def test_ycbcr_round_trip_and_luma():
    rgb = np.random.default_rng(2).random((6, 5, 3))
    ycc = io.rgb_to_ycbcr(rgb)
    np.testing.assert_allclose(ycc[..., 0], rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-6)
    np.testing.assert_allclose(io.ycbcr_to_rgb(ycc), rgb, atol=1e-5)
    grey = np.repeat(rgb[..., :1], 3, axis=-1)
    grey_ycc = io.rgb_to_ycbcr(grey)
    np.testing.assert_allclose(grey_ycc[..., 0], grey[..., 0], atol=1e-6)
    np.testing.assert_allclose(grey_ycc[..., 1:], 0.5, atol=1e-6)


def test_ycbcr_to_rgb_clips_out_of_gamut():
    ycc = np.array([[[1.0, 0.9, 0.9]]])
    out = io.ycbcr_to_rgb(ycc)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_verify_checksums(tmp_path):
    (tmp_path / "sub").mkdir()
    a, b = tmp_path / "sub" / "a.txt", tmp_path / "b.txt"
    a.write_text("alpha")
    b.write_text("beta")
    (tmp_path / "SHA256SUMS").write_text(f"{io.sha256_file(a)}  sub/a.txt\n{io.sha256_file(b)}  b.txt\n")
    assert io.verify_checksums(tmp_path) == [a, b]
    assert io.verify_checksums(tmp_path, only="sub/") == [a]
    b.write_text("BETA")
    with pytest.raises(DataError, match=r"b\.txt: sha256 [0-9a-f]{64} does not match"):
        io.verify_checksums(tmp_path)
    a.unlink()
    with pytest.raises(DataError, match=r"a\.txt: listed in .*SHA256SUMS but missing"):
        io.verify_checksums(tmp_path, only="sub/")
