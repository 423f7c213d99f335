"""Single-image training dataset, test-time pair tensors and PET-MRI colour fusion for AANLIB."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from mmlib.data.aanlib import load_aanlib_pairs
from mmlib.data.image_pairs import FusionImageDataset, pair_tensors
from mmlib.data.io import rgb_to_ycbcr
from mmlib.errors import ParameterError
from mmlib.papers.dilran.color import fuse_rgb_with_grey
from mmlib.papers.dilran.training import batch_images


def _write_pairs(root, kind, n=2, size=16, seed=0):
    """Tiny AANLIB-shaped folder: ``root/<kind>/<A>/<name>.png`` and ``root/<kind>/MRI/<name>.png``."""
    rng = np.random.default_rng(seed)
    first = "CT" if kind == "CT-MRI" else "PET"
    for folder in (first, "MRI"):
        (root / kind / folder).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        name = f"2{i + 1:03d}"
        shape = (size, size, 3) if first == "PET" else (size, size)
        Image.fromarray(rng.integers(1, 256, shape, dtype=np.uint8)).save(root / kind / first / f"{name}.png")
        Image.fromarray(rng.integers(1, 256, (size, size), dtype=np.uint8)).save(root / kind / "MRI" / f"{name}.png")
    return load_aanlib_pairs(root, kind)


def test_dataset_mixes_single_ct_and_mr_images(tmp_path):
    pairs = _write_pairs(tmp_path, "CT-MRI", n=3)
    ds = FusionImageDataset(pairs, ["2001", "2003"])
    assert len(ds) == 4
    assert ds.items == [("2001", "CT"), ("2001", "MRI"), ("2003", "CT"), ("2003", "MRI")]
    ct = np.asarray(Image.open(pairs[2].paths["CT"]), dtype=np.float32) / 255
    assert ds[2].shape == (1, 16, 16) and ds[2].dtype == torch.float32
    assert np.allclose(ds[2][0].numpy(), ct)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch_images(batch).shape == (4, 1, 16, 16)


def test_dataset_resizes_with_values_in_unit_range(tmp_path):
    pairs = _write_pairs(tmp_path, "CT-MRI")
    image = FusionImageDataset(pairs, ["2001"], size=8)[0]
    assert image.shape == (1, 8, 8)
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    # area interpolation by 2: each output pixel is the mean of a 2x2 block
    full = FusionImageDataset(pairs, ["2001"])[0]
    assert torch.allclose(image, full.reshape(1, 8, 2, 8, 2).mean(dim=(2, 4)), atol=1e-6)


def test_pet_contributes_its_luminance(tmp_path):
    pairs = _write_pairs(tmp_path, "PET-MRI")
    ds = FusionImageDataset(pairs, ["2002"], modalities=("PET", "MRI"))
    rgb = np.asarray(Image.open(pairs[1].paths["PET"]), dtype=np.float64) / 255
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]  # BT.601 luma
    assert np.allclose(ds[0][0].numpy(), y, atol=1e-5)
    pet_y, mr = pair_tensors(pairs[1])
    assert torch.equal(pet_y[0], ds[0]) and torch.equal(mr[0], ds[1])


def test_pair_tensors_shapes(tmp_path):
    pair = _write_pairs(tmp_path, "CT-MRI")[0]
    ct, mr = pair_tensors(pair, size=(8, 4))
    assert ct.shape == mr.shape == (1, 1, 8, 4)


def test_bad_parameters(tmp_path):
    pairs = _write_pairs(tmp_path, "CT-MRI")
    with pytest.raises(ParameterError, match="not among the pairs"):
        FusionImageDataset(pairs, ["9999"])
    with pytest.raises(ParameterError, match="no modality"):
        FusionImageDataset(pairs, ["2001"], modalities=("PET", "MRI"))
    with pytest.raises(ParameterError, match="size"):
        FusionImageDataset(pairs, ["2001"], size=0)


def test_real_pairs(real_data_root):
    root = real_data_root("harvard-aanlib")
    ct_mri = load_aanlib_pairs(root, "CT-MRI", verify=False)
    ds = FusionImageDataset(ct_mri, [ct_mri[0].name, ct_mri[100].name], size=64)
    assert len(ds) == 4
    for image in ds:
        assert image.shape == (1, 64, 64) and 0.0 <= float(image.min()) < float(image.max()) <= 1.0
    pet_mri = load_aanlib_pairs(root, "PET-MRI", verify=False)
    pet_y, mr = pair_tensors(pet_mri[0])
    assert pet_y.shape == mr.shape == (1, 1, 256, 256)
    assert float(pet_y.max()) <= 1.0 and float(pet_y.min()) >= 0.0


def _average(y, grey):
    return (y + grey) / 2


def test_colour_fusion_fuses_luminance_and_keeps_chroma():
    rng = np.random.default_rng(1)
    # low-saturation colours around mid-grey, so that no RGB value is clipped
    rgb = np.clip(0.5 + 0.1 * rng.standard_normal((12, 10, 1)) + 0.03 * rng.standard_normal((12, 10, 3)), 0, 1)
    grey = (0.4 + 0.2 * rng.random((12, 10))).astype(np.float32)
    out = fuse_rgb_with_grey(_average, rgb, grey)
    assert out.shape == (12, 10, 3) and out.dtype == np.float32
    before, after = rgb_to_ycbcr(rgb), rgb_to_ycbcr(out)
    assert np.allclose(after[..., 0], (before[..., 0] + grey) / 2, atol=1e-5)
    assert np.allclose(after[..., 1:], before[..., 1:], atol=1e-5)


def test_colour_fusion_output_stays_in_unit_range_and_accepts_tensors():
    rng = np.random.default_rng(2)
    rgb = rng.random((8, 8, 3)).astype(np.float32)  # saturated colours: the gamut is left and clipped
    grey = rng.random((8, 8)).astype(np.float32)
    out = fuse_rgb_with_grey(lambda y, g: torch.as_tensor(np.maximum(y, g))[None, None], rgb, grey)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.allclose(out, rgb)


def test_colour_fusion_of_a_real_pet_mri_pair(real_data_root):
    pair = load_aanlib_pairs(real_data_root("harvard-aanlib"), "PET-MRI", verify=False)[0]
    images = pair.load()
    out = fuse_rgb_with_grey(_average, images["PET"], images["MRI"])
    assert out.shape == images["PET"].shape
    assert 0.0 <= out.min() and out.max() <= 1.0
    # where the MR is black, the fused luminance is half the PET's
    y_pet, y_out = rgb_to_ycbcr(images["PET"])[..., 0], rgb_to_ycbcr(out)[..., 0]
    dark = (images["MRI"] == 0) & (np.ptp(images["PET"], axis=-1) < 0.05)
    assert dark.any()
    assert np.allclose(y_out[dark], y_pet[dark] / 2, atol=0.01)


def test_random_crops_cut_squares_from_the_images_reproducibly():
    from torch.utils.data import TensorDataset

    from mmlib.data.image_pairs import RandomCrops

    images = torch.arange(2 * 20 * 24, dtype=torch.float32).reshape(2, 1, 20, 24)
    crops = RandomCrops(TensorDataset(images), 8, seed=5)
    first = [crops[i] for i in (0, 1, 0)]
    assert all(c.shape == (1, 8, 8) for c in first)
    # every crop is a contiguous window of its source image
    for c, source in zip(first, (images[0], images[1], images[0])):
        top, left = divmod(int((c[0, 0, 0] - source[0, 0, 0]).item()), 24)
        torch.testing.assert_close(c, source[:, top : top + 8, left : left + 8])
    again = RandomCrops(TensorDataset(images), 8, seed=5)
    assert all(torch.equal(a, again[i]) for a, i in zip(first, (0, 1, 0)))
    with pytest.raises(ParameterError, match="exceeds"):
        RandomCrops(TensorDataset(images), 21)[0]
    with pytest.raises(ParameterError, match="integer"):
        RandomCrops(TensorDataset(images), 4)
