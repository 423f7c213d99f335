"""Bad input to the fusion pipeline (issue 4, section 8): each case gives a clear error or a documented handling.

Cases: partners of different sizes, a missing partner file, an RGB image where grey is
expected, and an all-zero image. Each error must name the offending file.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from mmlib.data.aanlib import FusionPair, load_aanlib_pairs
from mmlib.data.image_pairs import FusionImageDataset, pair_tensors
from mmlib.errors import DataError
from mmlib.papers.dilran.color import fuse_rgb_with_grey
from mmlib.papers.dilran.model import DILRAN
from mmlib.papers.dilran.fusion_rules import get_rule
from mmlib.papers.dilran.training import fuse_pair


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def _noise(shape, seed=0):
    return np.random.default_rng(seed).integers(1, 256, shape, dtype=np.uint8)


def _pair(ct_path, mr_path):
    """A pair built by hand (as a user with their own files would), bypassing the folder scan."""
    return FusionPair("2001", "2", "CT-MRI", {"CT": ct_path, "MRI": mr_path}, {"CT": "grey", "MRI": "grey"})


# --- partners of different sizes ---------------------------------------------------------


def test_mismatched_sizes_are_refused_when_listing(tmp_path):
    _png(tmp_path / "CT-MRI" / "CT" / "2001.png", _noise((16, 16)))
    mr = _png(tmp_path / "CT-MRI" / "MRI" / "2001.png", _noise((16, 12)))
    with pytest.raises(DataError, match=f"{re.escape(str(mr))}.*differs from its partner"):
        load_aanlib_pairs(tmp_path, "CT-MRI")


def test_mismatched_sizes_are_refused_by_pair_tensors_and_the_dataset(tmp_path):
    ct = _png(tmp_path / "ct.png", _noise((16, 16)))
    mr = _png(tmp_path / "mr.png", _noise((12, 16)))
    with pytest.raises(
        DataError, match=f"{re.escape(str(mr))}: size \\(12, 16\\) differs from its partner {re.escape(str(ct))}"
    ):
        pair_tensors(_pair(ct, mr))
    with pytest.raises(DataError, match=re.escape(str(mr))):
        FusionImageDataset([_pair(ct, mr)], ["2001"])


def test_mismatched_sizes_are_refused_at_fusion():
    with pytest.raises(DataError, match="sizes differ"):
        fuse_pair(DILRAN(), np.zeros((8, 8)), np.zeros((8, 6)))
    with pytest.raises(DataError, match="sizes differ"):
        fuse_rgb_with_grey(lambda y, g: y, np.zeros((8, 8, 3)), np.zeros((8, 6)))


# --- a missing partner file ----------------------------------------------------------------


def test_missing_partner_is_named_when_listing(tmp_path):
    _png(tmp_path / "CT-MRI" / "CT" / "2001.png", _noise((8, 8)))
    _png(tmp_path / "CT-MRI" / "MRI" / "2001.png", _noise((8, 8)))
    _png(tmp_path / "CT-MRI" / "CT" / "2002.png", _noise((8, 8)))
    missing = tmp_path / "CT-MRI" / "MRI" / "2002.png"
    with pytest.raises(DataError, match=f"{re.escape(str(missing))}: partner of .*2002.png is missing"):
        load_aanlib_pairs(tmp_path, "CT-MRI")


def test_partner_deleted_after_listing_is_named(tmp_path):
    ct = _png(tmp_path / "ct.png", _noise((8, 8)))
    mr = tmp_path / "mr.png"
    with pytest.raises(DataError, match=f"{re.escape(str(mr))}: file does not exist"):
        pair_tensors(_pair(ct, mr))
    with pytest.raises(DataError, match=f"{re.escape(str(mr))}: file does not exist"):
        FusionImageDataset([_pair(ct, mr)], ["2001"])


# --- an RGB image where grey is expected -----------------------------------------------------


def test_colour_image_where_grey_is_expected(tmp_path):
    ct = _png(tmp_path / "ct.png", _noise((8, 8, 3)))
    mr = _png(tmp_path / "mr.png", _noise((8, 8)))
    with pytest.raises(DataError, match=f"{re.escape(str(ct))}: expected a greyscale image but it is RGB colour"):
        pair_tensors(_pair(ct, mr))
    with pytest.raises(DataError, match=re.escape(str(ct))):
        FusionImageDataset([_pair(ct, mr)], ["2001"])


def test_grey_image_saved_as_rgb_is_accepted(tmp_path):
    """Documented handling (mmlib.data.io.load_png): three identical channels are grey."""
    grey = _noise((8, 8))
    ct = _png(tmp_path / "ct.png", np.repeat(grey[..., None], 3, axis=-1))
    a, _ = pair_tensors(_pair(ct, _png(tmp_path / "mr.png", _noise((8, 8)))))
    assert torch.allclose(a[0, 0], torch.from_numpy(grey / np.float32(255)))


def test_colour_arrays_where_grey_is_expected_at_fusion():
    with pytest.raises(DataError, match="expected a grey image"):
        fuse_pair(DILRAN(), np.zeros((8, 8, 3)), np.zeros((8, 8, 3)))
    with pytest.raises(DataError, match="grey image.*\\(H, W\\)"):
        fuse_rgb_with_grey(lambda y, g: y, np.zeros((8, 8, 3)), np.zeros((8, 8, 3)))
    with pytest.raises(DataError, match="colour image.*\\(H, W, 3\\)"):
        fuse_rgb_with_grey(lambda y, g: y, np.zeros((8, 8)), np.zeros((8, 8)))


def test_grey_pet_where_colour_is_expected(tmp_path):
    pet = _png(tmp_path / "PET-MRI" / "PET" / "2001.png", _noise((8, 8)))
    _png(tmp_path / "PET-MRI" / "MRI" / "2001.png", _noise((8, 8)))
    pair = load_aanlib_pairs(tmp_path, "PET-MRI")[0]
    with pytest.raises(DataError, match=f"{re.escape(str(pet))}: expected an RGB colour image but it is greyscale"):
        pair_tensors(pair)


# --- an all-zero image -------------------------------------------------------------------------


def test_all_zero_image_is_refused_before_fusion(tmp_path):
    """Documented handling (mmlib.data.image_pairs): a blank scan raises, naming the file."""
    ct = _png(tmp_path / "ct.png", np.zeros((8, 8)))
    mr = _png(tmp_path / "mr.png", _noise((8, 8)))
    with pytest.raises(DataError, match=f"{re.escape(str(ct))}: image is all zero"):
        pair_tensors(_pair(ct, mr))
    with pytest.raises(DataError, match=f"{re.escape(str(ct))}: image is all zero"):
        FusionImageDataset([_pair(ct, mr)], ["2001"])


@pytest.mark.parametrize("rule", ["sfnn-max", "sfnn-mean", "sfnn-max-sq", "fer", "fl1n"])
def test_fusion_rules_stay_finite_on_zero_features(rule):
    """The rules themselves never divide 0 by 0: all-zero features get equal weights 0.5 / 0.5."""
    zeros = torch.zeros(1, 4, 6, 6)
    features = torch.rand(1, 4, 6, 6)
    fused = get_rule(rule)(zeros, zeros)
    assert torch.equal(fused, zeros)
    assert torch.isfinite(get_rule(rule)(zeros, features)).all()
    if hasattr(get_rule(rule), "weights"):
        w1, w2 = get_rule(rule).weights(zeros, zeros)
        assert float(w1) == float(w2) == 0.5


def test_dilran_fuses_a_blank_image_without_nan():
    torch.manual_seed(0)
    fused = fuse_pair(DILRAN(), np.zeros((16, 16)), np.random.default_rng(0).random((16, 16)))
    assert fused.shape == (1, 1, 16, 16) and torch.isfinite(fused).all()


def test_colour_fusion_refuses_a_nan_luminance():
    with pytest.raises(DataError, match="fused luminance.*NaN"):
        fuse_rgb_with_grey(lambda y, g: np.full_like(y, np.nan), np.zeros((4, 4, 3)), np.zeros((4, 4)))
