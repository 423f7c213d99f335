"""MONAI pipelines of mmlib.data.transforms."""

import nibabel as nib
import numpy as np
import pytest
import torch

from mmlib.data.transforms import array_transforms, volume_transforms
from mmlib.errors import ParameterError

SHAPE = (24, 20, 16)


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    t1 = rng.gamma(2.0, 50.0, SHAPE).astype(np.float32)
    t1[:3] = 0.0  # background
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[12:18, 8:14, 6:10] = 1
    return {"t1": t1, "flair": 2 * t1 + 10, "seg": mask}


def test_eval_pipeline_rescales_to_unit_range_and_keeps_shape():
    out = array_transforms(keys=("t1", "flair"), mask_keys=("seg",), train=False)(_arrays())
    for key in ("t1", "flair"):
        x = torch.as_tensor(out[key])
        assert x.shape == (1, *SHAPE)
        assert float(x.min()) == pytest.approx(0.0) and float(x.max()) == pytest.approx(1.0)
        # values above the 99.5th percentile are clipped to 1
        assert float((x == 1.0).float().mean()) >= 0.004
    np.testing.assert_array_equal(np.asarray(out["seg"])[0], _arrays()["seg"])


def test_training_pipeline_is_deterministic_with_a_seed_and_stays_in_unit_range():
    def run(seed):
        pipe = array_transforms(keys=("t1", "flair"), mask_keys=("seg",), train=True, flip_prob=0.5)
        pipe.set_random_state(seed)
        return [pipe(_arrays()) for _ in range(3)]

    a, b, c = run(1), run(1), run(2)
    for x, y in zip(a, b):
        torch.testing.assert_close(torch.as_tensor(x["t1"]), torch.as_tensor(y["t1"]))
    assert not all(torch.equal(torch.as_tensor(x["t1"]), torch.as_tensor(z["t1"])) for x, z in zip(a, c))
    for out in a + c:
        x = torch.as_tensor(out["t1"])
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0 + 1e-6
        # the mask stays binary under nearest-neighbour resampling
        assert set(np.unique(np.asarray(out["seg"])).tolist()) <= {0, 1}


def test_flip_with_probability_one_flips_left_right():
    data = _arrays()
    plain = array_transforms(keys=("t1",), mask_keys=("seg",), train=False)(dict(data))
    flipped = array_transforms(keys=("t1",), mask_keys=("seg",), train=True, flip_prob=1.0, affine_prob=0.0)(dict(data))
    np.testing.assert_allclose(np.asarray(flipped["t1"]), np.flip(np.asarray(plain["t1"]), axis=1), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(flipped["seg"])[0], np.flip(data["seg"], axis=0))


def test_affine_scale_range_is_passed_as_monai_offsets():
    pipe = array_transforms(keys=("t1",), train=True, scale_range=(0.9, 1.2), rotate_deg=10)
    affine = [t for t in pipe.transforms if type(t).__name__ == "RandAffined"][0]
    params = affine.rand_affine.rand_affine_grid
    # one (low, high) offset pair per spatial axis; a flat pair would mean +-0.1 on x and +-0.2 on y
    np.testing.assert_allclose(np.asarray(params.scale_range, dtype=float), [[-0.1, 0.2]] * 3)
    np.testing.assert_allclose(params.rotate_range, [np.radians(10)] * 3)
    # and the sampled scales really stay within 0.9..1.2
    params.set_random_state(0)
    for _ in range(50):
        params.randomize()
        scales = np.asarray(params.scale_params)  # MONAI adds the 1 back
        assert np.all((scales >= 0.9 - 1e-9) & (scales <= 1.2 + 1e-9))


def test_spatial_size_pads_or_crops():
    out = array_transforms(keys=("t1",), spatial_size=(20, 24, 12))({"t1": _arrays()["t1"]})
    assert tuple(out["t1"].shape) == (1, 20, 24, 12)


def test_bad_percentiles_are_refused():
    with pytest.raises(ParameterError, match="percentiles"):
        array_transforms(keys=("t1",), lower=99.5, upper=0.5)


def test_loading_reorients_to_ras(tmp_path):
    data = _arrays()["t1"]
    las = np.diag([-1.0, 1.0, 1.0, 1.0])  # stored left-to-right: RAS needs a flip of axis 0
    nib.save(nib.Nifti1Image(data, las), tmp_path / "t1.nii.gz")
    out = volume_transforms(keys=("t1",), train=False)({"t1": str(tmp_path / "t1.nii.gz")})
    reference = array_transforms(keys=("t1",), train=False)({"t1": data})
    np.testing.assert_allclose(np.asarray(out["t1"]), np.flip(np.asarray(reference["t1"]), axis=1), atol=1e-6)


@pytest.mark.realdata
def test_real_brats_case_through_the_training_pipeline(real_data_root):
    root = real_data_root("brats-samples")
    case = root / "brats2018-hgg" / "Brats18_2013_2_1" / "Brats18_2013_2_1"
    pipe = volume_transforms(keys=("t1ce",), mask_keys=("seg",), train=True, spatial_size=(240, 240, 150))
    pipe.set_random_state(0)
    out = pipe({"t1ce": f"{case}_t1ce.nii.gz", "seg": f"{case}_seg.nii.gz"})
    assert tuple(out["t1ce"].shape) == (1, 240, 240, 150) == tuple(out["seg"].shape)
    x = torch.as_tensor(out["t1ce"])
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0 + 1e-6
    assert set(np.unique(np.asarray(out["seg"])).tolist()) <= {0, 1, 2, 4}
    assert int((torch.as_tensor(out["seg"]) > 0).sum()) > 1000
